"""Desired state for the reconcile controller's apps: each repository fetched at most once per poll, each app's
manifests read once per commit.

Rules:

* Apps are grouped by repository: the exact ``path`` of their ``Request`` (a URL's mirror is named after that
  string, so two spellings of one URL are two mirrors, fetched each). A remote repository is fetched once per
  period — the smallest interval of the apps using it — however many apps use it; a local repository is never
  fetched, only resolved; a plain directory (not git) has no commit and is read afresh by every ``desired``.
* A poll resolves each app's ``rev`` to a commit; ``desired`` reads that commit without fetching and keeps the
  result per app and commit. Asked again at the same commit it reads nothing and hands out a copy: manifests are
  dicts, and nothing may let one pass's edit reach the next pass's desired state.
* A failed fetch is remembered, and ``desired`` raises it until a fetch succeeds, although the older mirror could
  still be read: reconciling a stale commit without saying so is what the readiness probe exists to prevent.
* ``on_moved(app)`` is called when a poll (or ``refresh``) finds an app at a commit other than the one its last
  ``desired`` read — once per new commit, never before the app's first read.
* ``refresh`` (the push webhook) fetches the named repositories at once, matched by ``webhook.same_repository``.

Thread-safe: the poll thread, the webhook's threads and every app's thread call in. A fetch holds its
repository's lock (one fetch of a repository at a time); the shared state has a lock of its own, never held
during git or a read.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

from ..errors import SourceError, SourceUnreachableError
from ..model import Manifest
from ..ops.prepare import Request, read_source
from ..source import DesiredState, fetch, is_git_source, is_remote, redact, resolve
from .webhook import same_repository

log = logging.getLogger("gitapply.controller")

DEFAULT_INTERVAL = 60.0
"""Seconds between polls of a repository whose apps have no interval given (the apps file's default)."""
RETRY = 5.0
"""Seconds before ``run`` polls again after an unexpected failure (a bug: logged, never the end of the thread)."""


@dataclass(slots=True)
class _Repository:
    location: str
    remote: bool
    period: float
    apps: list[str]
    due: float = -math.inf
    error: SourceUnreachableError | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(slots=True)
class _App:
    request: Request
    repository: str | None
    """None: a plain directory."""
    commit: str | None = None
    """What ``rev`` resolved to at the last poll."""
    error: SourceError | None = None
    """Why ``rev`` did not resolve at the last poll (an unknown revision, a vanished local repository)."""
    read: str | None = None
    announced: str | None = None
    memo: DesiredState | None = None


class Sources:
    """Desired state for the controller's apps: each repository fetched at most once per poll, each app's
    manifests read once per commit."""

    def __init__(self, requests: Mapping[str, Request], intervals: Mapping[str, float], *,
                 on_moved: Callable[[str], None] = lambda app: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._on_moved = on_moved
        self._clock = clock
        self._lock = threading.Lock()
        self._fetches = 0
        self._apps: dict[str, _App] = {}
        self._repositories: dict[str, _Repository] = {}
        for name, request in requests.items():
            interval = intervals.get(name, DEFAULT_INTERVAL)
            git = is_git_source(request.path, rev=request.rev, subdir=request.subdir)
            self._apps[name] = _App(request, request.path if git else None)
            if not git:
                continue
            repository = self._repositories.setdefault(
                request.path, _Repository(request.path, is_remote(request.path), interval, []))
            repository.period = min(repository.period, interval)
            repository.apps.append(name)

    def desired(self, app: str) -> DesiredState:
        """The app's desired state at the commit its rev resolved to at the last poll, read without fetching;
        raises the last fetch's ``SourceUnreachableError`` when it failed, and ``SourceError`` as ``source.read``
        does. An app not polled yet is polled first."""
        state = self._apps[app]
        if state.repository is None:
            return self._read(state.request, None)
        repository = self._repositories[state.repository]
        if self._unpolled(repository, state):
            with repository.lock:
                # checked again: another app's thread may have polled while this one waited for the lock
                moved = self._poll_locked(repository, self._clock()) if self._unpolled(repository, state) else []
            self._announce(moved)
        with self._lock:
            failure = repository.error or state.error
            commit, memo = state.commit, state.memo
        if failure is not None:
            # a fresh exception each time: one instance raised by several threads would share its traceback
            raise type(failure)(failure.subject, failure.message) from failure
        if memo is not None and memo.revision == commit:
            return _copy(memo)
        desired = self._read(state.request, commit)
        with self._lock:
            state.memo, state.read = desired, desired.revision
        return _copy(desired)

    def poll(self, now: float | None = None) -> float:
        """Fetch every repository whose time has come (a local one is only resolved), resolve each app's rev,
        and call ``on_moved`` for each app now at another commit than its last read. Returns the seconds until
        the next repository is due (``math.inf`` when no app reads git)."""
        now = self._clock() if now is None else now
        moved: list[str] = []
        for repository in self._repositories.values():
            with repository.lock:
                if repository.due <= now:
                    moved += self._poll_safely(repository, now)
        self._announce(moved)
        with self._lock:
            due = min((repository.due for repository in self._repositories.values()), default=math.inf)
        return max(0.0, due - now)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, waiting between polls until the next repository is due (a thread of the
        controller)."""
        while not stop.is_set():
            try:
                wait = self.poll()
            except Exception:  # noqa: BLE001 - a bug must cost one poll, not every later one
                log.exception("polling the apps' repositories failed unexpectedly; this is a bug in gitapply")
                wait = RETRY
            stop.wait(None if math.isinf(wait) else wait)

    def refresh(self, repositories: Iterable[str]) -> list[str]:
        """Fetch these repositories now (matched to the apps' by ``same_repository``); the apps using them,
        moved or not (``on_moved`` is called for those that moved)."""
        urls = list(repositories)
        apps: list[str] = []
        moved: list[str] = []
        for repository in self._repositories.values():
            if any(same_repository(repository.location, url) for url in urls):
                with repository.lock:
                    moved += self._poll_safely(repository, self._clock())
                apps += repository.apps
        self._announce(moved)
        return sorted(apps)

    def apps_of(self, url: str) -> list[str]:
        """The apps whose repository is ``url`` (by ``same_repository``); plain directories are none."""
        return sorted(app for repository in self._repositories.values() if same_repository(repository.location, url)
                      for app in repository.apps)

    def fetches(self) -> int:
        """How many fetches were made (failed ones included)."""
        with self._lock:
            return self._fetches

    def _unpolled(self, repository: _Repository, state: _App) -> bool:
        with self._lock:
            return repository.error is None and state.commit is None and state.error is None

    def _poll_safely(self, repository: _Repository, now: float) -> list[str]:
        """``_poll_locked``, with an unexpected failure logged: one repository's must not stop the others'."""
        try:
            return self._poll_locked(repository, now)
        except Exception:  # noqa: BLE001 - the app's own pass meets it again and reports it
            log.exception(f"{redact(repository.location)}: polling failed unexpectedly; this is a bug in gitapply")
            return []

    def _poll_locked(self, repository: _Repository, now: float) -> list[str]:
        """Fetch (if remote) and resolve one repository, its lock held; the apps that moved."""
        # due first: a poll that fails unexpectedly must not make the repository due again at once
        repository.due = now + repository.period
        error = None
        if repository.remote:
            with self._lock:
                self._fetches += 1
            try:
                fetch(repository.location)
            except SourceUnreachableError as err:
                error = err
        resolved = {} if error else {app: _resolve(self._apps[app].request) for app in repository.apps}
        with self._lock:
            if (error is None) != (repository.error is None):
                _log_reachability(repository.location, error)
            repository.error = error
            return [app for app, outcome in resolved.items() if self._record(self._apps[app], app, outcome)]

    def _record(self, state: _App, app: str, outcome: str | SourceError) -> bool:
        """Keep what the app's rev resolved to; whether the app moved since its last read (first report only)."""
        if isinstance(outcome, SourceError):
            state.error = outcome
            return False
        state.commit, state.error = outcome, None
        if state.read is None or outcome in (state.read, state.announced):
            return False
        state.announced = outcome
        log.info(f"{app}: git moved to {outcome[:12]}", extra={"app": app, "revision": outcome})
        return True

    def _announce(self, apps: list[str]) -> None:
        for app in apps:
            self._on_moved(app)

    @staticmethod
    def _read(request: Request, commit: str | None) -> DesiredState:
        # the sha, not the rev: the commit read is the one the poll resolved, even if a fetch moved the branch since
        return read_source(request, rev=commit, fetch=False)


def _resolve(request: Request) -> str | SourceError:
    """The commit the app's rev names in its (already fetched) repository, or why it names none."""
    try:
        commit = resolve(request.path, rev=request.rev, subdir=request.subdir, fetch=False)
    except SourceError as err:
        return err
    if commit is None:  # a local repository whose .git went away since the controller started
        return SourceUnreachableError(request.path, "is no longer a git repository; give a repository, a path "
                                                    "inside one, or a URL")
    return commit


def _log_reachability(location: str, error: SourceUnreachableError | None) -> None:
    """Only changes are logged: every pass of every app on the repository reports the failure already."""
    if error is not None:
        log.warning(str(error), extra={"repository": redact(location)})
    else:
        log.info(f"{redact(location)}: reachable again", extra={"repository": redact(location)})


def _copy(state: DesiredState) -> DesiredState:
    """The memo's objects, copied: a caller may edit the dicts it is given."""
    return replace(state, manifests=tuple(Manifest(_thaw(m.obj), m.origin) for m in state.manifests))


def _thaw(value: Any) -> Any:
    """A copy of parsed YAML or JSON: new dicts and lists, the (immutable) scalars shared."""
    if isinstance(value, dict):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_thaw(item) for item in value]
    return value
