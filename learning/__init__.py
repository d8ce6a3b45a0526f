"""Training with local learning rules (torch): data sets, the MLP, the rules and the shared trainer.

``learning`` knows nothing of circuits. It describes a trained rule as plain data (:class:`RuleRecord`); the
compiler's frontend turns that into the IR's ``learn`` dialect.
"""

from learning.datasets import DATASETS, Dataset, load_dataset
from learning.rules import RULES, get_rule
from learning.trainer import TrainConfig, TrainResult, train

__all__ = ["DATASETS", "RULES", "Dataset", "TrainConfig", "TrainResult", "get_rule", "load_dataset", "train"]
