"""The next seed's features are processed while this seed's models run (predict._predict_all), and the samples
are those each seed gives alone."""

from __future__ import annotations

import threading

from alphafold_msa.predict import run_prediction


def test_the_next_seed_is_processed_while_this_seed_s_models_run(small_msa_path, reduced_weights, runners, tmp_path,
                                                                 monkeypatch):
    runner = runners.get(reduced_weights, "reduced")
    real_process, real_predict = runner.process, runner.predict
    processing = {seed: threading.Event() for seed in range(3)}
    overlapped = []

    def process(raw, num_recycle, seed, *args, **kwargs):
        processing[seed].set()
        return real_process(raw, num_recycle, seed, *args, **kwargs)

    def predict(processed, number, num_recycle, seed, *args, **kwargs):
        if seed + 1 in processing:  # the next seed starts processing before this one's model returns
            overlapped.append(processing[seed + 1].wait(timeout=120))
        return real_predict(processed, number, num_recycle, seed, *args, **kwargs)

    monkeypatch.setattr(runner, "process", process)
    monkeypatch.setattr(runner, "predict", predict)
    fields = {"models": (1,), "num_recycle": 0, "relax": "none", "formats": ("pdb",)}
    result = run_prediction(small_msa_path, tmp_path / "three", runner=runner, num_seeds=3, keep_top=3, **fields)
    assert overlapped == [True, True]
    assert {"features_wait_s", "process_features_s"} <= set(result.timings), "both recorded (their values: benchmarks)"
    monkeypatch.undo()
    for model in result.models:  # each seed's sample as a job of that seed alone predicts it
        alone = run_prediction(small_msa_path, tmp_path / f"seed{model.seed}", runner=runner, random_seed=model.seed,
                               **fields)
        assert alone.models[0].structures["pdb"] == model.structures["pdb"]
