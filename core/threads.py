"""Thread counts that outputs must not depend on."""
from __future__ import annotations

from threadpoolctl import threadpool_limits


def one_blas_thread():
    """Context manager: BLAS on one thread. A BLAS product splits its sums over its threads, so its
    last bits depend on ``OMP_NUM_THREADS`` (measured: 2 threads changed the 7th digit of
    ``onset_env``, and the scenes' keypoints by 3e-5 px). Under it, feature files and generated
    data are byte-identical whichever executor or environment ran them (a Ray task sets the thread
    count to its CPUs). The matrices involved are small; one thread costs little."""
    return threadpool_limits(limits=1, user_api="blas")
