"""Label-free training: the normalised loss, data, checkpoints, exact resume, torchrun/gloo."""



from phnet_cuda.surrogate.train.cli import main


def test_cli_errors(capsys, tmp_path):
    assert main(["--out", str(tmp_path / "x"), "--widths", "4,a"]) == 2
    assert "widths" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "x"), "--n", "6", "--widths", "4,8,16"]) == 2
    assert "divisible" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "x"), "--corner-mix", "1.5"]) == 2
    assert "corner_mix" in capsys.readouterr().err


def test_cli_flags_reach_the_config():
    import argparse

    from phnet_cuda.surrogate.train import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    cfg = config_from_args(p.parse_args(["--out", "r", "--random-translation", "--corner-mix", "0.3", "--plain"]))
    assert cfg.random_translation and cfg.corner_mix == 0.3 and not cfg.model["periodic"]
    assert not config_from_args(p.parse_args(["--out", "r"])).random_translation
    assert config_from_args(p.parse_args(["--out", "r", "--cg-steps", "4"])).model["cg_steps"] == 4
