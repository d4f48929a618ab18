"""How gunicorn serves the app: `gunicorn config.wsgi`, started from the project's root, reads this file.

Synchronous workers, two per core plus one (gunicorn's own advice; WEB_CONCURRENCY overrides the count). A free
worker takes the next request from the shared socket, so a request never queues behind another inside a busy
worker, as it does with threaded workers whose keep-alive connections stay with the worker that accepted them.
bench/pos_purchase.py measured it on 2 cores at 16 tills: purchase p99 222 ms with 5 sync workers, 495 ms with
4 workers x 4 threads, for the same throughput. Behind a reverse proxy (nginx) that keeps client connections
alive, the loss of keep-alive between the proxy and gunicorn costs little on one machine.

A sync worker that waits on WeChat serves nobody else, so calls to WeChat (and WeChat Pay) in flight on this host
are capped at half the workers (OUTBOUND_MAX_CONCURRENT_CALLS, counted in the shared cache): a login beyond the cap
is answered `wechat_unavailable` at once, and the other workers keep serving the tills while WeChat hangs.
bench/login_stall.py measures the tills' ping while 6 logins hang.
"""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
threads = 1
# A till waits for the sale's answer: a request slower than this is stuck (a lock, the database), not busy.
timeout = 30
# Read by the app's settings in each worker (inherited from this process's environment).
os.environ.setdefault("OUTBOUND_MAX_CONCURRENT_CALLS", str(max(1, workers // 2)))
