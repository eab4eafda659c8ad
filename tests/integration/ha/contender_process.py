"""A JobManager stand-in in its own process, for SIGKILL tests: contends, publishes, prints its grants.

    python contender_process.py QUORUM CLUSTER_ID STORAGE_URI SESSION_TIMEOUT NAME
prints ``READY`` once connected and ``GRANTED <session-id>`` on each grant; runs until killed.
"""

from __future__ import annotations

import sys
import threading

from strom.common.config import Configuration
from strom.common.ha.zookeeper import ZooKeeperHaServices


def main() -> None:
    quorum, cluster_id, storage, session_timeout, name = sys.argv[1:6]
    ha = ZooKeeperHaServices(Configuration({
        "high-availability.zookeeper.quorum": quorum,
        "high-availability.cluster-id": cluster_id,
        "high-availability.storageDir": storage,
        "high-availability.zookeeper.client.session-timeout": session_timeout,
    }))

    class Contender:
        def grant_leadership(self, session_id: str) -> None:
            ha.leader_election().confirm_leadership(session_id, f"{name}:6123", f"{name}:8081")
            print(f"GRANTED {session_id}", flush=True)

        def revoke_leadership(self) -> None:
            print("REVOKED", flush=True)

    ha.leader_election().start(Contender())
    print("READY", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
