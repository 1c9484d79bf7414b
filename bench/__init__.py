"""Speed and concurrency benchmarks of the service (``make bench``, ``python -m bench.run``).

Every bench works on scratch PostgreSQL databases and server processes of its
own, which it removes when it ends, whether it succeeded or not. Traffic only
ever goes to 127.0.0.1.
"""
