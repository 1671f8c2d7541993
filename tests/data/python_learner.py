# Mid-size churn for ~2 s in three threads, with a fork in the middle: under
# HAKMEM_LEARN=1 the learner starts lazily, works through several windows,
# the forked child runs (without a learner) and the parent exits cleanly.
import os
import signal
import threading
import time

stop = threading.Event()


def churn(seed):
    live = []
    i = seed
    while not stop.is_set():
        live.append(bytearray(1500 + (i * 7919) % 30000))
        if len(live) > 400:
            live = live[200:]
        i += 1


threads = [threading.Thread(target=churn, args=(t,)) for t in range(3)]
for t in threads:
    t.start()
time.sleep(1.0)
pid = os.fork()
if pid == 0:
    signal.alarm(30)
    blocks = [bytearray(2000 + i % 20000) for i in range(20000)]
    os._exit(0 if len(blocks) == 20000 else 3)
_, status = os.waitpid(pid, 0)
time.sleep(1.0)
stop.set()
for t in threads:
    t.join()
print("learner workload ok" if os.waitstatus_to_exitcode(status) == 0 else "child failed")
