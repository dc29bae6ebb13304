//! The binary refuses to start half-configured: a bad setting from any source exits with status 2
//! and a message naming the key, before anything is bound.

mod common;

use std::process::Output;

use common::process::raftka_command;

fn raftka(args: &[&str], env: &[(&str, &str)]) -> Output {
    raftka_command()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run raftka")
}

fn assert_refused(output: Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

#[test]
fn bad_settings_from_each_source_stop_the_broker() {
    assert_refused(
        raftka(&["serve", "--override", "num.partitions=0"], &[]),
        "`num.partitions`",
    );
    assert_refused(raftka(&["--override", "no.such.key=1"], &[]), "no.such.key");
    assert_refused(
        raftka(&["serve"], &[("RAFTKA_NUM_PARTITIONS", "many")]),
        "num.partitions",
    );
    assert_refused(
        raftka(&["serve"], &[("RAFTKA_NO_SUCH", "1")]),
        "RAFTKA_NO_SUCH",
    );
    assert_refused(
        raftka(&["serve", "--config", "/nonexistent/raftka.toml"], &[]),
        "/nonexistent/raftka.toml",
    );
    assert_refused(
        raftka(
            &[
                "serve",
                "--advertised-listeners",
                "PLAINTEXT://localhost:9092",
            ],
            &[],
        ),
        "`advertised.listeners`",
    );
    assert_refused(raftka(&["serve", "--override", "oops"], &[]), "KEY=VALUE");
}

#[test]
fn help_names_the_subcommand_and_flags() {
    let output = raftka(&["--help"], &[]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in ["serve", "dump-log", "--config", "--override"] {
        assert!(
            text.contains(needle),
            "{needle} missing from --help: {text}"
        );
    }
}
