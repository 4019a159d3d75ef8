"""Proposals as the API returns them: the model's own shape (models/proposal.py), said once.

Routes answer with the dataclass itself; FastAPI renders it through pydantic, and the chat
stream uses the same rendering (`proposal_data` in services/ai/proposal_service.py).
"""

from engine.models.proposal import Proposal

ProposalOut = Proposal
