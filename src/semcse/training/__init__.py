"""SemCSE training: examples from corpus + summaries, SemCSE losses, validation, the trainer."""

from semcse.training.examples import ExampleBuilder, PositiveMix, Triplet
from semcse.training.papers import TrainingDataError, TrainingPaper, prepare_papers, split_by_paper
from semcse.training.losses import SemCSEInfoNCELoss, SemCSETripletLoss
from semcse.training.trainer import TrainResult, load_summaries, prepare_data, train
from semcse.training.validation import PartnerRankEvaluator, validation_pairs

__all__ = [
    "ExampleBuilder", "PositiveMix", "TrainingDataError", "TrainingPaper", "Triplet", "prepare_papers", "split_by_paper",
    "SemCSEInfoNCELoss", "SemCSETripletLoss", "TrainResult", "load_summaries", "prepare_data", "train",
    "PartnerRankEvaluator", "validation_pairs",
]
