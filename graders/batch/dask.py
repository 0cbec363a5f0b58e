"""Send a batch's jobs to a Dask distributed cluster: an existing scheduler, or a local cluster to try it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from graders.batch.pool import OnReply, Reply, close_remote, grade_remote
from graders.errors import BatchError


class DaskPool:
    """Each job is one Dask task; the task hands it to a grading process on the Dask worker's machine."""

    def __init__(self, *, scheduler: str | None = None, local_workers: int | None = None, timeout: float,
                 startup_s: float, gpu: bool = False):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise BatchError("Dask is not installed: pip install 'graders[dask]'") from None
        self.timeout, self.startup_s = timeout, startup_s
        # One submission per GPU at a time: workers started with `--resources GPU=1` run one such task each.
        self.resources = {"GPU": 1} if gpu else None
        self.cluster = None
        if scheduler is None:
            # processes=True: each worker is its own process, like `dask worker` on a machine of the cluster.
            self.cluster = LocalCluster(n_workers=local_workers or 1, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                        resources=self.resources)
        try:
            self.client = Client(self.cluster if self.cluster is not None else scheduler, timeout=30)
        except OSError as exc:
            self._close_cluster()
            raise BatchError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None

    def warm(self, job: dict[str, Any]) -> Reply:
        return self._reply(job, self._submit(job).result())

    def run(self, jobs: Iterable[dict[str, Any]], on_reply: OnReply) -> None:
        from distributed import as_completed

        futures = {self._submit(job): job for job in jobs}
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    text = future.result()
                except Exception as exc:  # noqa: BLE001  a lost Dask worker costs its task, not the batch
                    on_reply(job, {"id": job["id"], "ok": False, "infra": True,
                                   "reason": f"the Dask task failed: {type(exc).__name__}: {exc}"})
                    continue
                on_reply(job, self._reply(job, text))
        finally:
            self.client.cancel(list(futures))

    def _submit(self, job: dict[str, Any]) -> Any:
        # pure=False: the same submission graded twice (--force) is two runs, not one cached result.
        key = f"grade-{job['name']}-{uuid.uuid4().hex[:8]}"
        return self.client.submit(grade_remote, json.dumps(job), self.timeout, self.startup_s, pure=False, key=key,
                                  resources=self.resources, retries=0)

    @staticmethod
    def _reply(job: dict[str, Any], text: str) -> Reply:
        try:
            reply = json.loads(text)
        except ValueError:
            return {"id": job["id"], "ok": False, "infra": True, "reason": "the Dask task sent an unreadable reply"}
        return reply if isinstance(reply, dict) else {"id": job["id"], "ok": False, "infra": True,
                                                      "reason": "the Dask task sent an unexpected reply"}

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def close(self) -> None:
        try:
            self.client.run(close_remote)
        except Exception:  # noqa: BLE001  a worker that is gone has nothing left to close
            pass
        self.client.close()
        self._close_cluster()
