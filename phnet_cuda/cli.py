"""Command line: ``phnet demo`` (main job), ``homogenize``, ``predict``, ``train``, ``dataset``, ``gallery``.

Errors in user input (missing files, bad arrays, bad options) end with a one-line message on
stderr and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input, reported as one line."""


def _format_matrix(C: torch.Tensor) -> str:
    return "\n".join("  " + " ".join(f"{float(v):11.4e}" for v in row) for row in C)


def _format_constants(consts: dict) -> str:
    keys = list(consts)
    return "\n".join("  " + "  ".join(f"{k} = {consts[k]:.5g}" for k in keys[i:i + 3]) for i in range(0, len(keys), 3))


def _load_voxels(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise UserError(f"voxel file not found: {path}")
    try:
        vox = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for bad files
        raise UserError(f"cannot read {path} as a .npy array: {exc}") from None
    if vox.ndim not in (3, 4) or len(set(vox.shape[-3:])) != 1:
        raise UserError(f"{path}: expected a voxel array [n, n, n] or [B, n, n, n], got shape {vox.shape}")
    if vox.dtype == bool:
        vox = vox.astype(np.float32)
    if not np.issubdtype(vox.dtype, np.number):
        raise UserError(f"{path}: expected numbers, got dtype {vox.dtype}")
    vox = vox.astype(np.float64)
    if vox.size and (vox.min() < 0 or vox.max() > 1 or not np.isfinite(vox).all()):
        raise UserError(f"{path}: voxel values must lie in [0, 1], got range [{vox.min()}, {vox.max()}]")
    return vox


def _parse_shape(text: str | None):
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"--shape: expected six numbers a_xy,a_yz,a_xz,lx,ly,lz, got {text!r}") from None
    if len(values) != 6:
        raise UserError(f"--shape: expected six numbers a_xy,a_yz,a_xz,lx,ly,lz, got {len(values)}")
    return values


def _device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"--device: unknown device {name!r}") from None


def _report(CH: torch.Tensor, res, extra: dict) -> dict:
    from .post import engineering_constants
    return {
        "CH": CH.tolist(),
        "voigt_order": ["xx", "yy", "zz", "yz", "xz", "xy"],
        "engineering_constants": engineering_constants(CH),
        "iterations": res.iterations,
        "max_relative_residual": float(res.residual.max()),
        "converged": res.converged,
        "seconds": res.seconds,
        **extra,
    }


def cmd_homogenize(args) -> int:
    from .post import engineering_constants
    from .solver import homogenize
    shape = _parse_shape(args.shape)
    vox = _load_voxels(args.voxels)
    res = homogenize(vox, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, tol=args.tol,
                     device=_device(args.device), deflate={"auto": "auto", "on": True, "off": False}[args.deflate],
                     semi_coarsening=args.semi_coarsening)
    CHs = res.CH if res.CH.dim() == 3 else res.CH[None]
    reports = []
    for b, CH in enumerate(CHs.cpu()):
        print(f"cell {b}: C^H (Voigt xx yy zz yz xz xy):\n{_format_matrix(CH)}")
        print(f"engineering constants:\n{_format_constants(engineering_constants(CH))}")
        reports.append(_report(CH, res, {"cell": b, "volume_fraction": float(np.mean(vox[b] if vox.ndim == 4 else vox))}))
    print(f"{res.iterations} iterations, max residual {float(res.residual.max()):.2e}, "
          f"{'converged' if res.converged else 'NOT converged'}, {res.seconds:.2f} s"
          + (f", rigid motions of {res.deflated} hinged/floating solid pieces deflated" if res.deflated else ""))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(reports if len(reports) > 1 else reports[0], fh, indent=2)
        print(f"wrote {args.out}")
    return 0 if res.converged else 1


def cmd_demo(args) -> int:
    from . import CellProblem
    from .geometry import cell_types, make_cell, tubular_gyroid
    from .post import engineering_constants, von_mises
    from .solver import homogenize

    device = _device(args.device)
    shape = _parse_shape(args.shape)
    if not args.sigma_y > 0:
        raise UserError(f"--sigma-y: expected a positive yield strength, got {args.sigma_y:g}")
    if args.stl_tile < 1:
        raise UserError(f"--stl-tile: expected an integer >= 1, got {args.stl_tile}")
    os.makedirs(args.out, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    if args.cell == "tubular_gyroid":
        vox = tubular_gyroid(args.n, args.vf)  # the reference method's TG, bit-identical to training
    elif args.cell in cell_types():
        vox = make_cell(args.cell, args.n, args.vf)
    else:
        raise UserError(f"--cell: unknown cell type {args.cell!r}; 'phnet gallery' shows the "
                        f"{len(cell_types())} types, e.g. {', '.join(cell_types('tpms_sheet')[:4])}, ...")
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
    from .export import write_json
    write_json(path, report)
    print(f"wrote {path}")
    return 0 if res.converged else 1


def _demo_phnet(args, vox, shape, CH, solver_seconds: float, timings: dict) -> dict:
    """PH-Net half of the demo: the network's C^H of the same cell (shipped checkpoint unless
    --checkpoint), its certified diagonal upper bounds, the relative error against the solver,
    both timings, and the side-by-side Young's-modulus surfaces."""
    from . import plots
    from .post import engineering_constants, relative_error
    from .predict import load_model, predict

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
    from . import export, plots, post

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
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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


def cmd_dataset_build(args) -> int:
    from . import data
    if args.scale is not None and not 0 < args.scale <= 1:
        raise UserError(f"--scale: expected a number in (0, 1], got {args.scale:g}")
    if args.n is not None and args.n < 2:
        raise UserError(f"--n: expected an integer >= 2, got {args.n}")
    if args.max_chunks is not None and args.max_chunks < 1:
        raise UserError(f"--max-chunks: expected an integer >= 1, got {args.max_chunks}")
    try:
        res = data.build_dataset(args.spec, args.out, n=args.n, scale=args.scale, seed=args.seed,
                                 split_by=args.split_by, max_chunks=args.max_chunks, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: {args.out} keeps the chunks written so far; re-run the same command to resume",
              file=sys.stderr)
        return 130
    print(f"{res['path']}: {res['status']}, {res['chunks_done']}/{res['chunks']} chunks, {res['geometries']} cell slots "
          f"({res['built']} built, {res['rejected']} rejected, {res['skipped']} out of range), {res['samples']} samples, "
          f"{res['seconds']:.1f} s")
    if res["status"] != "complete":
        print("re-run the same command to continue the build")
    return 0


def cmd_dataset_label(args) -> int:
    from . import data
    if args.batch < 1:
        raise UserError(f"--batch: expected an integer >= 1, got {args.batch}")
    if not args.tol > 0:
        raise UserError(f"--tol: expected a positive number, got {args.tol:g}")
    if args.limit is not None and args.limit < 0:
        raise UserError(f"--limit: expected an integer >= 0, got {args.limit}")
    try:
        res = data.label_dataset(args.file, args.split, batch=args.batch, device=_device(args.device), tol=args.tol,
                                 limit=args.limit, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: the labels written so far are kept in {args.file}; re-run to continue", file=sys.stderr)
        return 130
    print(f"{args.file}: labelled {res['labelled']} samples of split '{args.split}' in {res['seconds']:.1f} s, "
          f"{res['pending']} still pending, {res['not_converged']} not converged (tol {args.tol:g})")
    return 0 if res["not_converged"] == 0 else 1


def cmd_dataset_info(args) -> int:
    from . import data
    info = data.dataset_info(args.file, verify=args.verify)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: {info['name']}, {info['status']}, n = {info['n']}, {info['voxel_dtype']} cells, "
          f"{info['file_bytes'] / 2 ** 20:.1f} MiB")
    print(f"  {info['geometries']} cell slots ({info['geometries_built']} built, {len(info['rejected'])} rejected, "
          f"{info['geometries_skipped']} out of range) of "
          f"{len(info['cell_types'])} types, {info['samples']} samples, chunks {info['chunks_done']}/{info['chunks']}")
    for s, d in info.get("split", {}).items():
        print(f"  {s}: {d['samples']} samples, {d['labelled']} labelled ({d['converged']} converged)")
    if "split_rule" in info:
        print(f"  split by {info['split_rule']['by']}, test fraction {info['split_rule']['test_fraction']:g}, "
              f"seed {info['split_rule']['seed']}")
    if info["vf_adjustments"]:
        print(f"  vf grid adjusted for {len(info['vf_adjustments'])} types (out of their reachable range)")
    print(f"  seed {info['seed']}, generator {info['generator']}, labels {info['labels_state']}")
    if args.verify:
        v = info["verified"]
        print(f"  checksums OK ({v['datasets']} datasets; labels {v['labels']})")
    return 0


def cmd_gallery(args) -> int:
    from .geometry.gallery import render_gallery
    if args.n < 4:
        raise UserError(f"--n: expected an integer >= 4, got {args.n}")
    if not 0 < args.vf < 1:
        raise UserError(f"--vf: expected a number in (0, 1), got {args.vf:g}")
    if args.step < 1:
        raise UserError(f"--step: expected an integer >= 1, got {args.step}")
    families = args.family.split(",") if args.family else None
    names = args.types.split(",") if args.types else None
    t0 = time.perf_counter()
    paths = render_gallery(args.out, n=args.n, volume_fraction=args.vf, families=families, names=names,
                           style="slice" if args.slices else "iso", step_size=args.step, progress=not args.quiet)
    for path in paths:
        print(f"wrote {path}")
    print(f"gallery: {len(paths)} sheet(s) in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_train(args) -> int:
    from .train import config_from_args, train

    summary = train(config_from_args(args))
    print(json.dumps(summary))
    return 0


def cmd_predict(args) -> int:
    from .post import engineering_constants
    from .predict import predict

    shape = _parse_shape(args.shape)
    vox = _load_voxels(args.voxels)
    res = predict(vox, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, checkpoint=args.checkpoint,
                  refine_tol=args.refine_tol, refine_iters=args.refine_iters, device=_device(args.device),
                  cg_steps=args.cg_steps)
    CHs = res.CH if res.CH.dim() == 3 else res.CH[None]
    upper = res.CH_upper if res.CH_upper.dim() == 2 else res.CH_upper[None]
    gaps = None if res.gap is None else (res.gap if res.gap.dim() == 2 else res.gap[None])
    reports = []
    for b, CH in enumerate(CHs.cpu()):
        kind = ("refined (exact to --refine-tol)" if args.refine_tol else
                f"PH-Net + {res.iterations} multigrid-PCG iterations" if args.refine_iters else
                f"PH-Net ({res.cg_steps}-step physics stage)" if res.cg_steps else "PH-Net (network alone)")
        print(f"cell {b}: C^H {kind} (Voigt xx yy zz yz xz xy):\n{_format_matrix(CH)}")
        print(f"engineering constants:\n{_format_constants(engineering_constants(CH))}")
        print("certified upper bounds of diag C^H: " + " ".join(f"{float(v):.4e}" for v in upper[b]))
        if gaps is not None and args.refine_tol:
            print("bound gap (upper - exact) / exact: " + " ".join(f"{float(v):.2%}" for v in gaps[b]))
        elif gaps is not None:
            print("bound gap to the refined C^H (an underestimate): " + " ".join(f"{float(v):.2%}" for v in gaps[b]))
        else:
            print("bound gap: not measured (pass --refine-tol, e.g. 1e-6, to get the exact C^H and the gap)")
        reports.append({"cell": b, "CH": CH.tolist(), "engineering_constants": engineering_constants(CH),
                        "CH_upper_diagonal": upper[b].tolist(),
                        "bound_gap": None if gaps is None else gaps[b].tolist()})
    t = res.timings
    print(f"timings: network {t['network'] * 1e3:.1f} ms, stage {t['stage'] * 1e3:.1f} ms "
          f"({res.cg_steps} block-Jacobi CG step{'' if res.cg_steps == 1 else 's'}), refine {t['refine'] * 1e3:.1f} ms "
          f"({res.iterations} iteration{'' if res.iterations == 1 else 's'}), total {t['total'] * 1e3:.1f} ms; checkpoint {res.checkpoint}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"cells": reports, "timings": t, "iterations": res.iterations, "cg_steps": res.cg_steps,
                       "checkpoint": res.checkpoint, "resampled": res.resampled}, fh, indent=2)
        print(f"wrote {args.out}")
    # a fixed --refine-iters budget is not a convergence request; --refine-tol is
    return 0 if res.converged in (None, True) or not args.refine_tol else 1


def _add_cell_arguments(p: argparse.ArgumentParser) -> None:
    """The voxel file, material, shape, device and JSON output shared by homogenize and predict."""
    p.add_argument("voxels", help=".npy voxel array [n, n, n] or [B, n, n, n] in [0, 1]")
    p.add_argument("--E", type=float, default=1.0)
    p.add_argument("--nu", type=float, default=0.3)
    p.add_argument("--soft-ratio", type=float, default=1e-6)
    p.add_argument("--shape", default=None,
                   help="parallelepiped a_xy,a_yz,a_xz,lx,ly,lz (degrees, lengths; CONVENTIONS); default cube")
    p.add_argument("--device", default=None)
    p.add_argument("--out", default=None, help="write the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phnet", description="Periodic voxel homogenization (phnet_cuda).")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the main job: an embedded Tubular-Gyroid cell by the solver and by PH-Net")
    demo.add_argument("--n", type=int, default=16,
                      help="voxels per edge (default 16, the shipped PH-Net's; other n are resampled for it)")
    demo.add_argument("--checkpoint", default=None, help="PH-Net checkpoint (default: the shipped model)")
    demo.add_argument("--cell", default="tubular_gyroid",
                      help="cell type of the microstructure library (default tubular_gyroid; see phnet gallery)")
    demo.add_argument("--vf", type=float, default=0.10, help="solid volume fraction (default 0.10)")
    demo.add_argument("--E", type=float, default=750.0, help="Young's modulus of the base material (default 750, MPa)")
    demo.add_argument("--nu", type=float, default=0.25, help="Poisson ratio (default 0.25)")
    demo.add_argument("--soft-ratio", type=float, default=1e-6, help="E_soft / E (default 1e-6)")
    demo.add_argument("--shape", default="75,75,75,1,1,2",
                      help="parallelepiped a_xy,a_yz,a_xz,lx,ly,lz (default 75,75,75,1,1,2; 90,90,90,1,1,1 = cube)")
    demo.add_argument("--tol", type=float, default=1e-6, help="solver tolerance (default 1e-6)")
    demo.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    demo.add_argument("--out", default="phnet_demo", help="output folder (default ./phnet_demo)")
    demo.add_argument("--sigma-y", type=float, default=1.0,
                      help="base-material yield strength for the first-yield estimates (default 1: results "
                           "in units of the yield strength)")
    demo.add_argument("--stl-tile", type=int, default=2, help="cells per edge in the STL (default 2)")
    demo.set_defaults(func=cmd_demo)

    hom = sub.add_parser("homogenize", help="C^H of voxel cells stored in a .npy file")
    _add_cell_arguments(hom)
    hom.add_argument("--tol", type=float, default=1e-8)
    hom.add_argument("--deflate", choices=("auto", "on", "off"), default="auto",
                     help="deflate the rigid motions of solid pieces hinged at voxel edges/corners or floating: "
                          "auto (default: once the plain solve is slow), on (from the start), off")
    hom.add_argument("--semi-coarsening", type=float, default=None, metavar="RATIO",
                     help="multigrid semi-coarsening for stretched cells: keep axes coupled more than RATIO "
                          "times more weakly than the strongest (e.g. 2); default: full coarsening")
    hom.set_defaults(func=cmd_homogenize)

    dset = sub.add_parser("dataset", help="build, label and inspect HDF5 cell datasets (phnet_cuda.data)")
    dsub = dset.add_subparsers(dest="dataset_command", required=True)
    build = dsub.add_parser("build", help="build (or resume) a dataset file")
    build.add_argument("--spec", required=True, help="dataset1, dataset2, or a custom .yaml/.json spec")
    build.add_argument("--out", required=True, help="output .h5 file (an unfinished one with the same spec is resumed)")
    build.add_argument("--n", type=int, default=None, help="voxels per edge (default: the spec's, 48 for the built-ins)")
    build.add_argument("--scale", type=float, default=None,
                       help="small version: samples per cell and types per group times SCALE in (0, 1]; vf grid kept")
    build.add_argument("--seed", type=int, default=None, help="override the spec's seed")
    build.add_argument("--split-by", default=None, help="sample | geometry | volume_fraction | type (override)")
    build.add_argument("--max-chunks", type=int, default=None, help="stop after this many chunks (resumable)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(func=cmd_dataset_build)
    label = dsub.add_parser("label", help="store numerical C^H for a split (resumable)")
    label.add_argument("file", help="a complete dataset .h5 file")
    label.add_argument("--split", default="test", help="train | test | all (default test)")
    label.add_argument("--batch", type=int, default=8, help="samples per solve (default 8)")
    label.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    label.add_argument("--tol", type=float, default=1e-6, help="solver tolerance (default 1e-6)")
    label.add_argument("--limit", type=int, default=None, help="label at most this many samples now")
    label.add_argument("--quiet", action="store_true", help="no progress bar")
    label.set_defaults(func=cmd_dataset_label)
    info = dsub.add_parser("info", help="summary of a dataset file")
    info.add_argument("file")
    info.add_argument("--verify", action="store_true", help="also check every stored checksum")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=cmd_dataset_info)

    gal = sub.add_parser("gallery", help="PNG sheets of every microstructure-library cell type")
    gal.add_argument("--out", required=True, help="output folder")
    gal.add_argument("--n", type=int, default=32, help="voxels per edge of the pictured cells (default 32)")
    gal.add_argument("--vf", type=float, default=0.15,
                     help="target volume fraction, clamped to each type's reachable range (default 0.15)")
    gal.add_argument("--family", default=None, help="comma-separated families (tpms_sheet,tpms_network,truss)")
    gal.add_argument("--types", default=None, help="comma-separated cell types (default: all)")
    gal.add_argument("--slices", action="store_true", help="draw z mid-slices instead of 3D isosurfaces (faster)")
    gal.add_argument("--step", type=int, default=1, help="marching-cubes step size (2 = coarser, faster)")
    gal.add_argument("--quiet", action="store_true", help="no progress bar")
    gal.set_defaults(func=cmd_gallery)
    trn = sub.add_parser("train", help="label-free PH-Net training (resumable; torchrun: python -m phnet_cuda.train)")
    from .train import add_arguments as _train_arguments

    _train_arguments(trn)
    trn.set_defaults(func=cmd_train)

    pred = sub.add_parser("predict", help="C^H of voxel cells by PH-Net (optionally refined to exact)")
    _add_cell_arguments(pred)
    pred.add_argument("--checkpoint", default=None, help="PH-Net checkpoint (default: the shipped model)")
    pred.add_argument("--refine-tol", type=float, default=None,
                      help="warm-start the solver from the prediction and converge to this tolerance")
    pred.add_argument("--refine-iters", type=int, default=None,
                      help="at most this many multigrid-PCG iterations from the prediction (fixed cost; "
                           "1-2 cut the network's C^H error 10-100x)")
    pred.add_argument("--cg-steps", type=int, default=None,
                      help="steps of the model's physics output stage (block-Jacobi CG from the network's "
                           "field; default: the checkpoint's own, 0 = the network alone)")
    pred.set_defaults(func=cmd_predict)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"phnet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # argument validation inside the library
        print(f"phnet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
