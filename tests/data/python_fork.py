# A multi-threaded python3 that forks (os.fork and subprocess) while its other
# threads keep allocating: the children must find a working allocator.
import os
import signal
import subprocess
import sys
import threading

stop = threading.Event()


def churn(seed):
    d = {}
    i = seed
    while not stop.is_set():
        d[i % 5000] = ("x" * (i % 300)) + str(i)
        if i % 1000 == 0:
            d = {k: v for k, v in d.items() if k % 2}
        i += 1


threads = [threading.Thread(target=churn, args=(t,)) for t in range(3)]
for t in threads:
    t.start()

expected = sum(i % 100 for i in range(50000))
for n in range(20):
    pid = os.fork()
    if pid == 0:
        signal.alarm(30)  # a deadlocked child dies instead of hanging the test
        d = {str(i): "v" * (i % 100) for i in range(50000)}
        total = sum(len(v) for v in d.values())
        os._exit(0 if total == expected else 3)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        print("child %d failed: status %d" % (n, status))
        sys.exit(1)
    out = subprocess.run(["/bin/echo", "hi%d" % n], capture_output=True, text=True,
                         timeout=60).stdout
    if out != "hi%d\n" % n:
        print("subprocess %d printed %r" % (n, out))
        sys.exit(1)

stop.set()
for t in threads:
    t.join()
print("fork ok")
