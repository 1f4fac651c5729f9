"""Local real stack for development and tests: Apache Kafka (KRaft), SecantusDB, Mailpit.

>>> stack = LocalStack(StackConfig(root=Path(".stack"), kafka_port=0))  # doctest: +SKIP
>>> stack.up()  # doctest: +SKIP
"""

from vies_shared.devstack.stack import (
    COMPONENTS,
    Component,
    LocalStack,
    StackConfig,
    StackError,
    find_repo_root,
)

__all__ = [
    "COMPONENTS",
    "Component",
    "LocalStack",
    "StackConfig",
    "StackError",
    "find_repo_root",
]
