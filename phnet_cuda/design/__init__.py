"""Inverse design of periodic cells: a density per voxel optimised for an objective of C^H.

``optimize(objective, n=, volume_fraction=, ...)`` -> ``DesignResult`` (the 0/1 cell, its
solver-checked C^H, the history); ``write_outputs`` writes the files of ``phnet design``
(docs/design_optimization.md).

Modules, one concept each:

* ``symmetry`` - none / orthotropic / cubic, enforced exactly by reduced variables;
* ``filters`` - the periodic hat density filter; ``projection`` - Heaviside projection and its
  continuation; ``density`` - the whole map x -> rho -> vox (SIMP);
* ``objectives`` - bulk, shear, Poisson, Young, target distance, any callable of C^H;
  ``constraints`` - volume fraction and bounds on C^H; ``bounds`` - Hashin-Shtrikman bounds;
* ``evaluation`` - one solve and the self-adjoint sensitivities (solver or PH-Net);
* ``optimizers`` - MMA (``mmapy``) and optimality criteria; ``state`` - checkpoint / resume;
  ``threshold`` - the final 0/1 cell; ``loop`` - ``optimize``; ``report`` - output files.
"""

from .bounds import hashin_shtrikman
from .constraints import StiffnessBound, VolumeConstraint, parse_bound
from .density import DensityMap
from .evaluation import DesignProblem, Evaluation
from .filters import DensityFilter
from .loop import DesignResult, initial_density, optimize
from .objectives import (
    OBJECTIVES,
    Objective,
    bulk_modulus,
    make_objective,
    poisson_ratio,
    shear_modulus,
    target_distance,
    young_modulus,
)
from .optimizers import MMA, OPTIMIZERS, oc_update
from .projection import Continuation, heaviside
from .report import design_report, write_outputs
from .symmetry import SYMMETRIES, Symmetry
from .threshold import threshold_design

__all__ = ["MMA", "OBJECTIVES", "OPTIMIZERS", "SYMMETRIES", "Continuation", "DensityFilter", "DensityMap",
           "DesignProblem", "DesignResult", "Evaluation", "Objective", "StiffnessBound", "Symmetry",
           "VolumeConstraint", "bulk_modulus", "design_report", "hashin_shtrikman", "heaviside", "initial_density",
           "make_objective", "oc_update", "optimize", "parse_bound", "poisson_ratio", "shear_modulus",
           "target_distance", "threshold_design", "write_outputs", "young_modulus"]
