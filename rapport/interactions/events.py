from dataclasses import dataclass


@dataclass(frozen=True)
class InteractionLogged:
    interaction_id: int
    contact_id: int | None
    organization_id: int | None
    kind: str
    channel: str
    direction: str
    actor_id: int | None
