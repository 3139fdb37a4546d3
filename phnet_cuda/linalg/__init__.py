"""Matrix-free linear algebra on the periodic voxel operator: the numerical pieces of the solver
and of PH-Net's physics output stage. They work on phase fractions and element matrices (the
op level), not on materials or cells, so ``problem`` can build on them and ``solver`` drives them.

* ``krylov``     batched preconditioned CG (``pcg``) and the fixed-step ``block_jacobi_cg``;
* ``blocks``     nodal 3 x 3 block Jacobi (``jacobi_blocks``, ``apply_blocks``);
* ``dense``      robust inverse of batched SPD matrices (``spd_inverse``);
* ``multigrid``  Galerkin geometric multigrid V-cycle (``MultigridPreconditioner``), transfer
  operators and (semi-)coarsening plans;
* ``deflation``  rigid motions of bounded solid pieces (``RigidClusterDeflation``).
"""

from .blocks import apply_blocks, jacobi_blocks
from .deflation import MAX_DEFLATED_PIECES, RigidClusterDeflation, bounded_pieces
from .dense import spd_inverse
from .krylov import block_jacobi_cg, pcg
from .multigrid import MultigridPreconditioner, axis_strength, coarsening_plan, prolongate, restrict

__all__ = [
    "MAX_DEFLATED_PIECES",
    "MultigridPreconditioner",
    "RigidClusterDeflation",
    "apply_blocks",
    "axis_strength",
    "block_jacobi_cg",
    "bounded_pieces",
    "coarsening_plan",
    "jacobi_blocks",
    "pcg",
    "prolongate",
    "restrict",
    "spd_inverse",
]
