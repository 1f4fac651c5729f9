"""Local real stack for development and tests: Apache Kafka (KRaft), SecantusDB, Mailpit, Keycloak.

>>> stack = LocalStack(StackConfig(root=Path(".stack"), kafka_port=0))  # doctest: +SKIP
>>> stack.up()  # doctest: +SKIP
"""

from vies_dev.devstack.stack import (
    BASE_COMPONENTS,
    COMPONENTS,
    KEYCLOAK_ADMIN,
    KEYCLOAK_REALM,
    KEYCLOAK_VERSION,
    Component,
    LocalStack,
    StackConfig,
    StackError,
    find_repo_root,
)

__all__ = [
    "BASE_COMPONENTS",
    "COMPONENTS",
    "KEYCLOAK_ADMIN",
    "KEYCLOAK_REALM",
    "KEYCLOAK_VERSION",
    "Component",
    "LocalStack",
    "StackConfig",
    "StackError",
    "find_repo_root",
]
