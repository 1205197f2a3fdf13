"""The exit codes of `electra-tfx` (README, "Exit codes"), for scripts and orchestrators.

    0  the run completed, the candidate was blessed and pushed
    1  the run failed (a bug, a crash, an unreachable service): see the traceback
    2  bad input or settings: the one-line message says what to change; nothing was trained
    3  the run completed but the candidate was not blessed (or, blessed, was not pushed):
       the summary and the report say which rule decided
"""
EXIT_BLESSED = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_BLESSED = 3
