//! The send path's side of scheduled delivery: where a delayed send is stored, and what is
//! refused.

use super::*;

#[tokio::test]
async fn delayed_sends_are_stored_in_their_schedule_topic_and_refusals_are_rocketmqs() {
    let b = TestBroker::start().await;
    let body = Bytes::from_static(b"later");

    // Delay level 2: SCHEDULE_TOPIC_XXXX queue 1, with the real topic and queue.
    let resp = b
        .send(
            request_code::SEND_MESSAGE,
            &header("T", "DELAY\u{1}2"),
            body.clone(),
        )
        .await;
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    assert_eq!(b.queue_len("SCHEDULE_TOPIC_XXXX", 1), 1);
    let stored = b.stored(&resp);
    assert_eq!(stored[0].topic, "SCHEDULE_TOPIC_XXXX");
    assert_eq!(stored[0].properties.get("REAL_TOPIC"), Some("T"));

    // A delivery time: rmq_sys_wheel_timer queue 0 with TIMER_OUT_MS.
    let resp = b
        .send(
            request_code::SEND_MESSAGE,
            &header("T", "TIMER_DELAY_SEC\u{1}5"),
            body.clone(),
        )
        .await;
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    assert_eq!(b.queue_len("rmq_sys_wheel_timer", 0), 1);

    // Beyond timerMaxDelaySec (3 days): MESSAGE_ILLEGAL, nothing stored.
    let resp = b
        .send(
            request_code::SEND_MESSAGE,
            &header("T", "TIMER_DELAY_SEC\u{1}999999"),
            body.clone(),
        )
        .await;
    assert_eq!(resp.code, code::MESSAGE_ILLEGAL);
    assert_eq!(b.queue_len("rmq_sys_wheel_timer", 0), 1);

    // Straight to a schedule topic: NO_PERMISSION.
    let resp = b
        .send(
            request_code::SEND_MESSAGE,
            &header("SCHEDULE_TOPIC_XXXX", ""),
            body.clone(),
        )
        .await;
    assert_eq!(resp.code, code::NO_PERMISSION);

    // A retry past the limit that still carries DELAY goes to the DLQ at once.
    let h = SendMessageRequestHeader {
        reconsume_times: Some(3),
        max_reconsume_times: Some(3),
        queue_id: 0,
        ..header("%RETRY%G1", "DELAY\u{1}5")
    };
    let resp = b.send(request_code::SEND_MESSAGE, &h, body.clone()).await;
    assert_eq!(resp.code, code::SUCCESS, "{:?}", resp.remark);
    assert_eq!(b.queue_len("%DLQ%G1", 0), 1);
    b.stop().await;
}
