"""Ctrl-C ends `radassist eval` between cases even when something under a case swallowed the cancellation.

The end-to-end check (a real `radassist eval` process, SIGINT, exit 130, partial results kept) is
tests/agent/test_eval_run.py::test_ctrl_c_leaves_a_partial_results_file; under load it once ran all 20
cases and exited 0, which is what a swallowed cancellation does.
"""

from __future__ import annotations

import asyncio

import pytest

from agent.eval.run import stop_if_cancelled


async def test_a_cancellation_swallowed_inside_a_case_still_ends_the_run() -> None:
    finished: list[int] = []
    in_second_case = asyncio.Event()

    async def case(number: int) -> None:
        if number == 1:
            in_second_case.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # as Python 3.11's wait_for does when its call finishes at the moment it is cancelled
        finished.append(number)

    async def run_cases() -> None:
        for number in range(5):
            await case(number)
            stop_if_cancelled()

    task = asyncio.create_task(run_cases())
    await in_second_case.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == [0, 1], "the case in progress finishes; no further case starts"


async def test_a_run_that_was_not_cancelled_goes_on() -> None:
    stop_if_cancelled()  # no exception
