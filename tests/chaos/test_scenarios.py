"""Reliability, CI-sized (chaos/scenarios.py with real Redis, SeaweedFS and Celery worker
processes): bad inputs, S3 faults and a SIGKILLed worker on a few pairs, a Redis restart, a
pickled message refused, no credentials written anywhere.

`make chaos` (python -m chaos.run) runs the full-size scenarios and writes chaos.json.
"""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def baseline(chaos_stack):
    from chaos import scenarios

    outcome, shas = scenarios.clean_run(chaos_stack, 4, 5)
    assert outcome.passed, outcome.row()
    return shas


def test_bad_input_corpus_fails_or_renders_each_pair_with_a_reason_and_no_worker_dies(chaos_stack):
    from chaos import scenarios

    out = scenarios.bad_input_runs(chaos_stack, n_good_garments=1)
    assert out.details["kinds"] >= 30
    assert not out.details["unexpected"], {k: out.details["verdicts"][k] for k in out.details["unexpected"]}
    assert out.passed, out.checks
    verdicts = out.details["verdicts"]
    assert verdicts["png_pixel_bomb"]["outcome"] == "failed" and "too large" in verdicts["png_pixel_bomb"]["reason"]
    assert verdicts["landscape_no_person"]["outcome"] == "failed"  # BlazePose finds nobody in it
    assert verdicts["control_char_key"]["outcome"].startswith("not planned")


def test_s3_faults_run_completes_through_bounded_counted_retries(chaos_stack, baseline):
    from chaos import scenarios
    from chaos.fault_proxy import FaultPlan

    plan = FaultPlan(error_500=0.04, error_503=0.04, reset=0.05, delay=0.1, delay_seconds=(0.02, 0.1), seed=3)
    out = scenarios.s3_faults(chaos_stack, 4, 5, baseline, timeout=240, plan=plan)
    assert out.passed, (out.checks, out.details)
    assert out.rendered == out.pairs == 20 and out.lost == out.duplicated == 0


def test_a_permanently_unavailable_object_ends_in_bounded_counted_retries_and_a_reported_failure(chaos_stack):
    from chaos import scenarios

    out = scenarios.s3_object_unavailable(chaos_stack, n_customers=2, n_garments=3)
    assert out.passed, (out.checks, out.details)
    assert any("SlowDown" in r for r in out.details["bad_pair_reasons"]), out.details["bad_pair_reasons"]


def test_sigkilled_worker_loses_and_duplicates_nothing(chaos_stack, baseline):
    from chaos import scenarios

    out = scenarios.worker_killed(chaos_stack, 4, 5, baseline, timeout=240, fraction=0.25)
    assert out.details["action"].get("killed_pid")
    assert out.passed, (out.checks, out.details)


def test_redis_restart_mid_run_loses_nothing(chaos_stack, baseline):
    from chaos import scenarios

    out = scenarios.redis_restarted(chaos_stack, 4, 5, baseline, timeout=240, fraction=0.25)
    assert out.passed, (out.checks, out.details)


def test_pickled_message_is_refused_and_the_worker_lives_on(chaos_stack):
    from chaos import scenarios

    result = scenarios.pickled_message_refused(chaos_stack)
    assert result["payload_is_live"]  # the message would have run code if unpickled
    assert result["ok"], result


def test_no_credentials_in_logs_run_files_or_metadata(chaos_stack, baseline):
    from chaos import scenarios

    buckets = [b["Name"] for b in chaos_stack.s3_direct().list_buckets()["Buckets"]]
    result = scenarios.no_secrets_written(chaos_stack, buckets)
    assert result["scanned_objects"] > 20 and result["logs"] >= 2
    assert not result["leaks"], result["leaks"]


def test_compose_flower_requires_auth_and_worker_image_is_not_root():
    from chaos import scenarios

    result = scenarios.deployment_files()
    assert result["flower_auth"]["ok"], result["flower_auth"]
    assert result["non_root_worker"]["ok"], result["non_root_worker"]


# --- issue 14: every run ends with a report ---------------------------------------------------
def test_over_long_keys_fit_and_the_run_ends_with_a_report(chaos_stack):
    from chaos import scenarios

    out = scenarios.over_long_keys(chaos_stack, n_customers=2, n_garments=2)
    assert out.passed, (out.checks, out.details)


def test_colliding_names_get_their_own_composites_and_are_not_rerendered(chaos_stack):
    from chaos import scenarios

    out = scenarios.colliding_keys(chaos_stack)
    assert out.passed, (out.checks, out.details)
    assert "tryon/alice%2Fbob/shirt.jpg" in out.details["composites"]


def test_racing_producers_start_one_run_and_write_each_composite_once(chaos_stack):
    from chaos import scenarios

    out = scenarios.racing_producers(chaos_stack, n_customers=2, n_garments=2, producers=4)
    assert out.passed, (out.checks, out.details)


def test_readonly_credentials_end_the_run_failed_then_resume_and_the_next_run_recover(chaos_stack):
    from chaos import scenarios

    out = scenarios.readonly_then_fixed(chaos_stack, n_customers=2, n_garments=2)
    assert out.passed, (out.checks, out.details)


def test_a_whole_worker_killed_is_recovered_by_its_heartbeat_not_the_visibility_timeout(chaos_stack, baseline):
    from chaos import scenarios

    out = scenarios.whole_worker_killed(chaos_stack, 4, 5, baseline, timeout=240, fraction=0.25)
    assert out.details["action"].get("killed_pid")
    assert out.passed, (out.checks, out.details)


def test_the_link_between_workers_and_redis_cut_for_a_while_loses_nothing(chaos_stack, baseline):
    from chaos import scenarios

    out = scenarios.redis_link_cut(chaos_stack, 4, 5, baseline, timeout=300, fraction=0.25, cut_seconds=20)
    assert out.passed, (out.checks, out.details)


def test_a_tiff_bomb_is_refused_from_its_header_and_the_worker_stays_small(chaos_stack):
    from chaos import scenarios

    out = scenarios.tiff_bomb(chaos_stack)
    assert out.passed, (out.checks, out.details)
