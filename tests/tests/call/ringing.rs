//! Ringing a person by their personal code with `tincan-cli`: `call --ring` rings a
//! `listen` peer; accepted, the call carries video and audio both ways, and a second ring
//! meanwhile hears `busy`; declined and unanswered rings end the ringer with their own exit
//! codes.

use std::time::{Duration, Instant};

use tincan_e2e::{about, CliPeer, Role, ServerProcess};

use super::{assert_tone, assert_video, temp_dir, ONE_CALL_AT_A_TIME};

#[tokio::test]
async fn a_ring_accepted_becomes_a_call_and_a_second_ring_meanwhile_hears_busy() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let dir = temp_dir("ring-accept");
    let bo_identity = dir.join("bo.key");
    let bo_key = bo_identity.to_str().expect("a UTF-8 temp path");
    let bo = CliPeer::start_in_role(
        &server,
        &dir,
        "Bo",
        Role::Listen("accept"),
        &[
            "--identity",
            bo_key,
            "--duration",
            "9",
            "--audio",
            "tone:660",
        ],
    )
    .await;
    let code = bo.code().expect("the listener prints its code");
    let ada = CliPeer::start_in_role(
        &server,
        &dir,
        "Ada",
        Role::Ring(&code),
        &["--duration", "10"],
    )
    .await;
    assert!(
        bo.printed("ringing", Duration::from_secs(5)).await,
        "Bo was rung"
    );
    assert!(
        ada.printed("accepted", Duration::from_secs(5)).await,
        "Ada heard the answer"
    );
    // Bo is in a call now: another ring hears busy and ends with its exit code (7).
    let cy =
        CliPeer::start_in_role(&server, &dir, "Cy", Role::Ring(&code), &["--duration", "8"]).await;
    let (cy_code, _) = cy.exit().await;
    assert_eq!(cy_code, Some(7), "a ring to someone in a call is busy");

    let (ada_id, bo_id) = (ada.id.clone(), bo.printed_after("peer").expect("Bo joined"));
    let (ada, bo) = (ada.finish().await, bo.finish().await);
    assert_video(&ada, &bo, &ada_id, &bo_id);
    assert_video(&bo, &ada, &bo_id, &ada_id);
    assert_tone(&bo, &ada_id, 440.0);
    assert_tone(&ada, &bo_id, 660.0);
    // The listener keeps its code across runs (its identity file).
    let again = CliPeer::start_in_role(
        &server,
        &dir,
        "Bo again",
        Role::Listen("none"),
        &["--identity", bo_key],
    )
    .await;
    assert_eq!(again.code().as_deref(), Some(code.as_str()));
    assert!(about(&ada, &bo_id)["connected"] == true);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn declined_and_unanswered_rings_end_with_their_own_exit_codes() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&["--ring-timeout", "3s"]).await;
    let dir = temp_dir("ring-refused");
    for (answer, exit) in [("decline", 5), ("none", 6)] {
        let bo = CliPeer::start_in_role(&server, &dir, "Bo", Role::Listen(answer), &[]).await;
        let code = bo.code().expect("the listener prints its code");
        let rang = Instant::now();
        let ada = CliPeer::start_in_role(
            &server,
            &dir,
            "Ada",
            Role::Ring(&code),
            &["--duration", "20"],
        )
        .await;
        let (got, _) = ada.exit().await;
        assert_eq!(got, Some(exit), "answer {answer}");
        if answer == "none" {
            let waited = rang.elapsed();
            assert!(
                waited >= Duration::from_secs(3),
                "no answer after {waited:?}"
            );
        }
    }
    // Nobody has this code on the server: exit 8, before any call.
    let nobody = tincan_protocol::PersonalKey::generate()
        .unwrap()
        .code()
        .to_string();
    let ada = CliPeer::start_in_role(&server, &dir, "Ada", Role::Ring(&nobody), &[]).await;
    assert_eq!(ada.exit().await.0, Some(8));
    std::fs::remove_dir_all(&dir).ok();
}
