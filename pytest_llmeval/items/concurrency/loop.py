"""The event loop the bodies of overlapping tests share, and how the runner drives it.

The loop runs in the main thread, only while the runner drives it: while waiting for
the oldest test's body, for a few milliseconds after each body ends, and between
admissions. So fixtures, hooks and bodies never run at the same time, only interleaved
at `await`s.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from pytest_llmeval.items.concurrency.shims import routed_output

#: After a test's body ends, how long the loop keeps serving the other bodies (bodies
#: that just got a slot send their requests, responses that arrived are read) before
#: pytest's bookkeeping of the finished test, during which the loop does not run.
SETTLE_S = 0.005


@dataclass
class Body:
    """One test body on the loop: its task, outcome, timing and what it printed."""

    context: contextvars.Context
    coroutine: Coroutine[Any, Any, Any] | None = None
    task: asyncio.Task[None] | None = None
    outcome: BaseException | None = None
    started: float | None = None  # time.time() when the body got a slot
    stopped: float | None = None
    duration: float | None = None
    buffered: bool = True  # route the body's sys.stdout/sys.stderr writes to `output`
    output: dict[str, list[str]] = field(default_factory=lambda: {"stdout": [], "stderr": []})

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()


class BodyLoop:
    """Runs up to `concurrency` bodies at once on one event loop, driven step by step."""

    def __init__(self, concurrency: int, capture: bool) -> None:
        self.concurrency = concurrency
        self.capture = capture
        self.loop: asyncio.AbstractEventLoop | None = None
        self.slots: asyncio.Semaphore | None = None
        self.bodies: dict[asyncio.Task[None], Body] = {}

    def start(self, body: Body) -> None:
        """Start the body as a task (it waits for a slot); a no-op if started already."""
        coroutine, body.coroutine = body.coroutine, None
        if coroutine is None:
            return
        loop = self._event_loop()
        task = loop.create_task(self._run(body, coroutine), context=body.context)
        body.task = task
        self.bodies[task] = body

    async def _run(self, body: Body, coroutine: Coroutine[Any, Any, Any]) -> None:
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.concurrency)
        running = False
        try:
            async with self.slots:
                running = True
                body.started, begin = time.time(), time.perf_counter()
                try:
                    await coroutine
                except BaseException as error:  # reported in the call phase, as pytest would
                    body.outcome = error
                finally:
                    body.duration = time.perf_counter() - begin
                    body.stopped = time.time()
        finally:
            if not running:
                coroutine.close()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop

    def _drive(self, awaitable: Coroutine[Any, Any, Any]) -> None:
        loop = self._event_loop()
        if not self.capture:
            loop.run_until_complete(awaitable)
            return
        with routed_output(self._buffer_of_current_body):
            loop.run_until_complete(awaitable)

    def pump(self) -> None:
        """Let the loop serve what is ready: new bodies send their requests, done ones end."""
        self._drive(asyncio.sleep(0))

    def settle(self) -> None:
        """Serve the running bodies for SETTLE_S (see there)."""
        running = [task for task in self.bodies if not task.done()]
        if running and SETTLE_S > 0:
            self._drive(asyncio.wait(running, timeout=SETTLE_S))

    def wait_for(self, body: Body) -> None:
        """Drive the loop until this body is done."""
        if body.task is not None and not body.task.done():
            self._drive(asyncio.wait([body.task]))

    def cancel(self, body: Body) -> None:
        """Cancel a body still running (and wait for it to unwind)."""
        if body.task is not None and not body.task.done():
            body.task.cancel()
            self.wait_for(body)

    def forget(self, body: Body) -> None:
        if body.task is not None:
            self.bodies.pop(body.task, None)

    def abandon(self, body: Body) -> None:
        """After an interruption: close a body not started, cancel a running one."""
        if body.coroutine is not None:
            body.coroutine.close()
        if body.task is not None:
            body.task.cancel()

    def _buffer_of_current_body(self) -> dict[str, list[str]] | None:
        """The running body's output buffer, if its output is to be kept for its report."""
        if self.loop is None:
            return None
        task = asyncio.current_task(self.loop)
        body = self.bodies.get(task) if task is not None else None
        return body.output if body is not None and body.buffered else None

    def close(self) -> None:
        """Cancel what still runs and close the loop (safe to call twice)."""
        loop, self.loop = self.loop, None
        if loop is None or loop.is_closed():
            return
        try:
            tasks = [task for task in self.bodies if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            self.bodies.clear()
            loop.close()
