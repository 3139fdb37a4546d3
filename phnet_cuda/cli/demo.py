"""``phnet demo``, the main job as one application: a library cell homogenized by the solver
and by PH-Net, the label-free loss, post-processing (worst-case stress, first-yield estimates)
and the output files (report JSON, figures, CSV, STL, VTU)."""

from __future__ import annotations

import os
import time

import torch

from ..conventions import DEFAULT_SOFT_RATIO
from .common import (
    UserError,
    _device,
    _format_constants,
    _format_matrix,
    _parse_shape,
    _report,
    add_verbose,
    prepare_output,
)


def cmd_demo(args) -> int:
    """``phnet demo``: homogenize a library cell with the solver and PH-Net, post-process it and write the
    report JSON and figures to ``--out``; returns 0 if the solver converged, else 1."""
    from ..geometry import cell_types, make_cell, tubular_gyroid
    from ..post import engineering_constants, von_mises
    from ..problem import CellProblem
    from ..solver import homogenize

    device = _device(args.device)
    shape = _parse_shape(args.shape)
    if not args.sigma_y > 0:
        raise UserError(f"--sigma-y: expected a positive yield strength, got {args.sigma_y:g}")
    if args.stl_tile < 1:
        raise UserError(f"--stl-tile: expected an integer >= 1, got {args.stl_tile}")
    if args.cell != "tubular_gyroid" and args.cell not in cell_types():
        raise UserError(f"--cell: unknown cell type {args.cell!r}; 'phnet gallery' shows the "
                        f"{len(cell_types())} types, e.g. {', '.join(cell_types('tpms_sheet')[:4])}, ...")
    prepare_output(args.out, "--out", directory=True)
    from ..surrogate import load_model
    load_model(args.checkpoint, device)  # cached for the PH-Net half; a bad checkpoint fails before the solve
    timings = {}
    t0 = time.perf_counter()
    if args.cell == "tubular_gyroid":
        vox = tubular_gyroid(args.n, args.vf)  # the reference method's TG, bit-identical to training
    else:
        vox = make_cell(args.cell, args.n, args.vf)
    timings["cell_generation"] = time.perf_counter() - t0
    print(f"phnet demo: {args.cell} cell, n = {args.n}, volume fraction {float(vox.mean()):.4f}, "
          f"shape {tuple(shape)}, E = {args.E:g}, nu = {args.nu:g}, soft ratio {args.soft_ratio:g}, device {device}")
    res = homogenize(vox, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, tol=args.tol,
                     device=device)
    timings["homogenize"] = res.seconds
    CH = res.CH.cpu()
    print(f"numerical homogenization (matrix-free multigrid-preconditioned CG on the custom ops): {res.iterations} "
          f"iterations, {res.seconds:.2f} s, max residual {float(res.residual.max()):.1e}")
    print(f"C^H (Voigt xx yy zz yz xz xy):\n{_format_matrix(CH)}")
    consts = engineering_constants(CH)
    print(f"engineering constants:\n{_format_constants(consts)}")

    # The label-free loss at u = 0 and at the solution: the energy form turns any u into an
    # upper bound of the diagonal of C^H, tight at the solution.
    prob = CellProblem(args.n, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, device=device,
                       dtype=torch.float64)
    t0 = time.perf_counter()
    loss_sol = prob.energy_loss(res.u, vox, reduction="none")
    t_loss = time.perf_counter() - t0
    timings["energy_loss"] = t_loss
    zero = torch.zeros_like(res.u)
    bound0 = torch.diagonal(prob.homogenized_tensor(zero, vox)[0]).cpu()
    print(f"energy_loss at the solution: {float(loss_sol.sum()):.6e} ({1e3 * t_loss:.1f} ms); "
          f"diag C^H bound from u = 0 (Voigt): {[round(float(v), 4) for v in bound0]}")

    eps, sig = prob.element_fields(res.u, vox, macro_strain=torch.tensor([1.0, 0, 0, 0, 0, 0]))
    vm = von_mises(sig)[0].cpu()
    phnet_out = _demo_phnet(args, vox, shape, CH, res.seconds, timings)
    post_out = _demo_post(args, vox, shape, res, CH, timings)
    post_out["phnet"] = phnet_out
    report = _report(CH, res, {"cell": args.cell, "n": args.n, "volume_fraction": float(vox.mean()),
                               "shape": shape,
                               "E": args.E, "nu": args.nu, "soft_ratio": args.soft_ratio,
                               "energy_loss_at_solution": loss_sol.cpu().tolist(),
                               "max_von_mises_under_unit_exx": float(vm.max()),
                               **post_out})
    try:
        png = _demo_plot(vox, vm, res.history, os.path.join(args.out, "demo_fields.png"))
        print(f"wrote {png}")
    except ImportError:
        print("matplotlib not installed: no figure written")
    report["timings_seconds"] = {k: round(v, 4) for k, v in timings.items()}
    path = os.path.join(args.out, "demo_report.json")
    from ..post.export import write_json
    write_json(path, report)
    print(f"wrote {path}")
    return 0 if res.converged else 1


def _demo_phnet(args, vox, shape, CH, solver_seconds: float, timings: dict) -> dict:
    """PH-Net half of the demo: the network's C^H of the same cell (shipped checkpoint unless
    --checkpoint), its certified diagonal upper bounds, the relative error against the solver,
    both timings, and the side-by-side Young's-modulus surfaces."""
    from ..post import engineering_constants, plots, relative_error
    from ..surrogate import load_model, predict

    device = _device(args.device)
    load_model(args.checkpoint, device)  # one-off load outside the timings
    # one call: the network's C^H (CH_network) and, from its field, one multigrid-PCG
    # iteration (CH; predict(refine_iters=1)), the cheap middle ground
    res = predict(vox, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, checkpoint=args.checkpoint,
                  refine_iters=1, device=device)
    CHp, CH1 = res.CH_network.cpu(), res.CH.cpu()
    err, err_one = float(relative_error(CHp, CH)), float(relative_error(CH1, CH))
    t_net_total = res.timings["total"] - res.timings["refine"]
    timings["phnet"] = t_net_total
    stage = (f", physics stage {res.timings['stage'] * 1e3:.1f} ms ({res.cg_steps} block-Jacobi CG steps)"
             if res.cg_steps else "")
    print(f"PH-Net ({os.path.basename(res.checkpoint)}): C^H in {t_net_total * 1e3:.1f} ms "
          f"(network {res.timings['network'] * 1e3:.1f} ms{stage}) vs the solver's {solver_seconds * 1e3:.0f} ms; "
          f"relative error ||C_net - C_num||_F / ||C_num||_F = {err:.2%}")
    print(f"C^H PH-Net (Voigt xx yy zz yz xz xy):\n{_format_matrix(CHp)}")
    consts = engineering_constants(CHp)
    print(f"engineering constants (PH-Net):\n{_format_constants(consts)}")
    print("certified upper bounds of diag C^H from the model's field: "
          + " ".join(f"{float(v):.4g}" for v in res.CH_upper.cpu()))
    print(f"PH-Net + 1 multigrid-PCG iteration (predict(refine_iters=1)): relative error {err_one:.2%} "
          f"in {res.timings['total'] * 1e3:.1f} ms")
    png = plots.plot_young_surfaces(CH, CHp, os.path.join(args.out, "demo_young_surfaces.png"),
                                    labels=("numerical", "PH-Net"), unit="MPa")
    print(f"wrote {png}")
    return {"checkpoint": os.path.basename(res.checkpoint), "CH": CHp.tolist(), "engineering_constants": consts,
            "relative_error": err, "CH_upper_diagonal": res.CH_upper.cpu().tolist(),
            "refine_iters_1": {"CH": CH1.tolist(), "relative_error": err_one, "seconds": res.timings["total"]},
            "seconds": t_net_total, "network_seconds": res.timings["network"], "cg_steps": res.cg_steps,
            "stage_seconds": res.timings["stage"],
            "solver_seconds": solver_seconds, "resampled": res.resampled}


def _demo_post(args, vox, shape, res, CH, timings: dict) -> dict:
    """Post-processing half of the demo: worst-case stress, first-yield estimates and the
    output files (E surface and worst-case PNGs, CSV, STL, VTU); returns the report entries.
    ``timings`` collects seconds per step."""
    from .. import post
    from ..post import export, plots

    out = args.out
    material = dict(E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape)
    t0 = time.perf_counter()
    A = post.stress_concentration(res.u, vox, CH=CH, **material)
    worst = post.worst_case_von_mises(A)[0].cpu()
    uniaxial = torch.eye(6, dtype=torch.float64)[:3]
    yield_axes = post.yield_stress(A, args.sigma_y, uniaxial, vox=vox)[0]
    solid = vox >= 0.5
    peak = float(worst[solid].max())
    timings["worst_case_stress"] = time.perf_counter() - t0
    print(f"worst-case von Mises per unit macroscopic stress (max over all unit Voigt stresses): peak {peak:.4g}, "
          f"solid mean {float(worst[solid].mean()):.4g}")
    print(f"first-yield macroscopic stress for base yield strength {args.sigma_y:g}: uniaxial x/y/z "
          f"{', '.join(f'{float(v):.4g}' for v in yield_axes)}; worst direction {args.sigma_y / peak:.4g}")

    t0 = time.perf_counter()
    written = [plots.plot_young_surface(CH, os.path.join(out, "demo_young_surface.png"),
                                        title="C^H Young's modulus surface (numerical)", unit="MPa"),
               plots.plot_slices(worst, os.path.join(out, "demo_worst_case_stress.png"), vox=vox, shape=shape,
                                 mask_void=True, label="max von Mises per unit ||Sigma||",
                                 title="worst-case von Mises stress over all unit macroscopic stresses")]
    timings["plots"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    written.append(export.write_csv(os.path.join(out, "demo_CH.csv"), CH,
                                    {"n": args.n, "volume_fraction": float(vox.mean()), "E": args.E, "nu": args.nu}))
    stl = export.write_stl(os.path.join(out, "demo_cell.stl"), vox, shape=shape, tile=args.stl_tile)
    written.append(stl["path"])
    # Fields under a unit uniaxial macroscopic stress along z (the cell's long axis).
    eps_z, sig_z = post.local_fields(res.u, vox, macro_stress=[0, 0, 1.0, 0, 0, 0], CH=CH, **material)
    strain_z = torch.einsum("pq,q->p", post.compliance(CH), torch.tensor([0, 0, 1.0, 0, 0, 0], dtype=torch.float64))
    disp = post.displacement_field(res.u, strain_z, shape=shape)
    written.append(export.write_vtk(os.path.join(out, "demo_fields.vtu"), vox, shape=shape,
                                    cell_data={"worst_case_von_mises": worst, "strain_Szz": eps_z[0],
                                               "stress_Szz": sig_z[0], "von_mises_Szz": post.von_mises(sig_z)[0]},
                                    point_data={"displacement_Szz": disp[0]}))
    timings["exports"] = time.perf_counter() - t0
    for p in written:
        print(f"wrote {p}")
    print(f"STL: {stl['triangles']} triangles, {args.stl_tile}^3 cells, enclosed volume {stl['volume']:.4g}")
    return {"anisotropy": post.anisotropy_indices(CH),
            "worst_case_von_mises": {"peak": peak, "solid_mean": float(worst[solid].mean()),
                                     "meaning": "max over unit macroscopic Voigt stresses of the voxel von Mises "
                                                "stress, per unit macroscopic stress"},
            "first_yield": {"sigma_y": args.sigma_y,
                            "uniaxial_xyz": [float(v) for v in yield_axes],
                            "worst_direction": args.sigma_y / peak,
                            "meaning": "macroscopic stress at which the first solid voxel reaches sigma_y "
                                       "(elastic limit, not collapse)"},
            "stl": {"triangles": stl["triangles"], "tile": args.stl_tile, "volume": stl["volume"]},
            "files": [os.path.basename(p) for p in written]}


def _demo_plot(vox, vm, history, path):
    from ..post.plots import _pyplot
    plt = _pyplot()
    k = vox.shape[-1] // 2
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].imshow(vox[:, :, k].numpy().T, origin="lower", cmap="gray_r")
    axes[0].set_title(f"cell, slice z = {k}")
    im = axes[1].imshow(vm[:, :, k].numpy().T, origin="lower", cmap="inferno")
    axes[1].set_title("von Mises stress, unit macro strain e_xx")
    fig.colorbar(im, ax=axes[1])
    axes[2].semilogy(history)
    axes[2].set_xlabel("PCG iteration")
    axes[2].set_ylabel("max relative residual")
    axes[2].set_title("solver convergence")
    for ax in axes[:2]:
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def add_parser(sub) -> None:
    """Register ``demo`` and its arguments on the subparsers ``sub``."""
    demo = sub.add_parser("demo", help="the main job: an embedded Tubular-Gyroid cell by the solver and by PH-Net")
    demo.add_argument("--n", type=int, default=16,
                      help="voxels per edge (default 16, the shipped PH-Net's; other n are resampled for it)")
    demo.add_argument("--checkpoint", default=None, help="PH-Net checkpoint (default: the shipped model)")
    demo.add_argument("--cell", default="tubular_gyroid",
                      help="cell type of the microstructure library (default tubular_gyroid; see phnet gallery)")
    demo.add_argument("--vf", type=float, default=0.10, help="solid volume fraction (default 0.10)")
    demo.add_argument("--E", type=float, default=750.0, help="Young's modulus of the base material (default 750, MPa)")
    demo.add_argument("--nu", type=float, default=0.25, help="Poisson ratio (default 0.25)")
    demo.add_argument("--soft-ratio", type=float, default=DEFAULT_SOFT_RATIO, help="E_soft / E (default 1e-6)")
    demo.add_argument("--shape", default="75,75,75,1,1,2",
                      help="parallelepiped a_xy,a_yz,a_xz,lx,ly,lz (default 75,75,75,1,1,2; 90,90,90,1,1,1 = cube)")
    demo.add_argument("--tol", type=float, default=1e-6, help="solver tolerance (default 1e-6)")
    demo.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    demo.add_argument("--out", default="phnet_demo", help="output folder (default ./phnet_demo; created if missing)")
    demo.add_argument("--sigma-y", type=float, default=1.0,
                      help="base-material yield strength for the first-yield estimates (default 1: results "
                           "in units of the yield strength)")
    demo.add_argument("--stl-tile", type=int, default=2, help="cells per edge in the STL (default 2)")
    add_verbose(demo)
    demo.set_defaults(func=cmd_demo)
