# gitapply in a container: `docker run IMAGE drift URL ...`; deploy/cronjob.yaml runs it on a schedule.
#
# Slim and non-root: Debian's python slim image, git and ssh only, no build tools, no pip cache, numeric
# user 10001 (numeric so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd). It works with a
# read-only root filesystem: everything it writes (HOME, the clone cache, the OpenAPI cache) is under /tmp,
# which the CronJob mounts as an emptyDir.
#
# Kustomize: a desired-state path holding a kustomization is rendered with `kustomize build` (see
# docs/sources.md). The binary comes from Kustomize's official image (SIG CLI, registry.k8s.io), a static Go
# build, copied into the final stage: nothing is downloaded by URL and the image gains no Go toolchain.
# v5.5.0 is the Kustomize kubectl 1.32 embeds, which the tests render with.
FROM registry.k8s.io/kustomize/kustomize:v5.5.0 AS kustomize

FROM python:3.11-slim-bookworm

# git: GitPython drives the git binary. openssh-client: ssh:// and git@host:path URLs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gitapply \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin gitapply

# pyproject.toml names README.md as the readme: without it setuptools warns and the metadata has no description.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gitapply/ gitapply/
RUN pip install --no-cache-dir --disable-pip-version-check . \
 && rm -rf /src

COPY --from=kustomize /app/kustomize /usr/local/bin/kustomize

# Git credentials come from files (the mounted Secret gitapply-git), never from the URL: see the script.
COPY deploy/image/gitapply-askpass /usr/local/bin/gitapply-askpass
RUN chmod 0555 /usr/local/bin/gitapply-askpass

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    GITAPPLY_CACHE=/tmp/gitapply-cache \
    GITAPPLY_GIT_CREDENTIALS=/etc/gitapply/git \
    GIT_ASKPASS=/usr/local/bin/gitapply-askpass \
    GIT_TERMINAL_PROMPT=0 \
    GIT_SSH_COMMAND="ssh -i /etc/gitapply/git/ssh-privatekey -o IdentitiesOnly=yes -o UserKnownHostsFile=/etc/gitapply/git/known_hosts -o StrictHostKeyChecking=yes"

WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["gitapply"]
CMD ["--help"]
