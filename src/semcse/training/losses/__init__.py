"""SemCSE losses as sentence-transformers loss modules (one loss per module)."""

from semcse.training.losses.base_anchor import BaseAnchorLoss
from semcse.training.losses.cached import CachedSemCSELoss
from semcse.training.losses.infonce import SemCSEInfoNCELoss
from semcse.training.losses.triplet import SemCSETripletLoss

__all__ = ["BaseAnchorLoss", "SemCSETripletLoss", "SemCSEInfoNCELoss", "CachedSemCSELoss"]
