//! A transactional send for the tools (`ledgermq producer --transaction`): the producer side
//! of RocketMQ's half-message protocol, small enough to read in one go.
//!
//! ```text
//! send       the message with TRAN_MSG=true and PGROUP: the broker keeps it as a half message
//! end        END_TRANSACTION to the broker that stored it (its offset msgId names it):
//!            COMMIT, ROLLBACK, or UNKNOW (nothing happens yet)
//! check      for UNKNOW: stay connected as a producer of the group (HEART_BEAT) and answer
//!            the broker's CHECK_TRANSACTION_STATE for this half with `check_answer`
//! ```

use std::time::Duration;

use tokio::time::Instant;

use super::error::ClientError;
use super::producer::{Message, Producer, SendResult};
use crate::message::decode_offset_msg_id;
use crate::message::properties::{PGROUP, TRAN_MSG};
use crate::message::sysflag::{
    TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE, TRANSACTION_ROLLBACK_TYPE,
};
use crate::protocol::body::{HeartbeatData, ProducerData};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{CheckTransactionStateRequestHeader, EndTransactionRequestHeader};
use crate::remoting::{request_code, RemotingCommand};

/// A local transaction's state, as the producer reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalState {
    Commit,
    Rollback,
    Unknown,
}

impl LocalState {
    /// END_TRANSACTION's `commitOrRollback`.
    fn wire(self) -> i32 {
        match self {
            LocalState::Commit => TRANSACTION_COMMIT_TYPE,
            LocalState::Rollback => TRANSACTION_ROLLBACK_TYPE,
            LocalState::Unknown => TRANSACTION_NOT_TYPE,
        }
    }
}

/// Sends END_TRANSACTION and waits for the answer. RocketMQ's clients send it oneway; a tool
/// that exits right after would lose a oneway frame still in its write queue, and LedgerMQ
/// answers END_TRANSACTION when it is not oneway, so the tool asks and checks the answer.
async fn end_transaction(
    client: &super::mq::MqClient,
    addr: &str,
    req: RemotingCommand,
) -> Result<(), ClientError> {
    client.call(addr, req).await.map(|_| ())
}

/// What happened to one transactional send.
#[derive(Debug, Clone)]
pub struct TransactionOutcome {
    pub send: SendResult,
    /// The broker that stored the half message (and resolves it).
    pub broker: String,
    /// The check-back this run answered, if any: its number (TRANSACTION_CHECK_TIMES is in
    /// the body; this is the header's offset) and the answer given.
    pub checked: Option<LocalState>,
}

/// Sends `msg` as a transactional message of producer group `group`: the local transaction
/// answers `first`; if that is `Unknown`, waits up to `wait_check` for the broker's check-back
/// and answers it with `check_answer`.
pub async fn send_in_transaction(
    producer: &Producer,
    group: &str,
    msg: Message,
    first: LocalState,
    check_answer: LocalState,
    wait_check: Duration,
) -> Result<TransactionOutcome, ClientError> {
    let msg = msg
        .with_property(TRAN_MSG, "true")?
        .with_property(PGROUP, group)?;
    let client = producer.client();
    // Take the inbound requests before anything can arrive on the connection.
    let mut inbound = client.take_inbound();
    let send = producer.send(msg).await?;
    let offset_msg_id = send.offset_msg_id.split(',').next().unwrap_or_default();
    let (store_host, commit_log_offset) = decode_offset_msg_id(offset_msg_id)?;
    let broker = store_host.to_string();
    let end = |state: LocalState, from_check: bool| {
        let h = EndTransactionRequestHeader {
            producer_group: group.to_string(),
            tran_state_table_offset: send.queue_offset,
            commit_log_offset,
            commit_or_rollback: state.wire(),
            from_transaction_check: from_check,
            msg_id: send.msg_id.clone(),
            transaction_id: Some(send.msg_id.clone()),
        };
        let mut req = RemotingCommand::request(request_code::END_TRANSACTION);
        req.ext_fields = h.to_ext();
        req
    };
    if first == LocalState::Unknown {
        // Register as a producer of the group on this connection, so the broker can check back.
        let hb = HeartbeatData {
            client_id: client.client_id().to_string(),
            consumer_data_set: Vec::new(),
            producer_data_set: vec![ProducerData {
                group_name: group.to_string(),
            }],
        };
        let body =
            serde_json::to_vec(&hb).map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        client
            .call(
                &broker,
                RemotingCommand::request(request_code::HEART_BEAT).with_body(body),
            )
            .await?;
    }
    end_transaction(client, &broker, end(first, false)).await?;
    if first != LocalState::Unknown {
        return Ok(TransactionOutcome {
            send,
            broker,
            checked: None,
        });
    }
    let Some(inbound) = inbound.as_mut() else {
        return Err(ClientError::InvalidArgument(
            "this client's inbound requests are already taken; cannot wait for a check-back".into(),
        ));
    };
    let deadline = Instant::now() + wait_check;
    loop {
        let Ok(Some(r)) = tokio::time::timeout_at(deadline, inbound.recv()).await else {
            return Ok(TransactionOutcome {
                send,
                broker,
                checked: None,
            });
        };
        if r.request.code != request_code::CHECK_TRANSACTION_STATE {
            continue;
        }
        let Ok(h) = CheckTransactionStateRequestHeader::from_ext(&r.request.ext_fields) else {
            continue;
        };
        if h.tran_state_table_offset != send.queue_offset
            || h.commit_log_offset != commit_log_offset
        {
            continue;
        }
        end_transaction(client, &r.addr, end(check_answer, true)).await?;
        return Ok(TransactionOutcome {
            send,
            broker,
            checked: Some(check_answer),
        });
    }
}
