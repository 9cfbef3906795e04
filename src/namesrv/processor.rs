//! The name server's request processors: decode header → apply to the route tables → encode.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::route::{Registration, RouteInfoManager};
use crate::acl::PlainAccessValidator;
use crate::message::java_crc32;
use crate::protocol::body::{parse_fastjson, KVTable, RegisterBrokerBody, TopicList};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::{
    DeleteKVConfigRequestHeader, DeleteTopicRequestHeader, GetKVConfigRequestHeader,
    GetKVConfigResponseHeader, GetRouteInfoRequestHeader, GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader, QueryDataVersionRequestHeader, QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnRegisterBrokerRequestHeader,
};
use crate::protocol::reply::{error, json_body, ok, with_header};
use crate::remoting::codes::{request_code as rc, response_code as code};
use crate::remoting::{not_supported, ChannelContext, RemotingCommand, RequestHandler};

/// Shared name-server state.
#[derive(Default)]
pub struct NamesrvState {
    pub routes: Mutex<RouteInfoManager>,
    kv: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

pub struct NamesrvHandler {
    pub state: Arc<NamesrvState>,
    /// Set with `aclEnable=true`: [`ADMIN_CODES`] need a signed admin account.
    pub acl: Option<Arc<PlainAccessValidator>>,
}

/// The name-server requests that change its tables. With ACL on they need an `admin: true`
/// account (brokers sign their registrations with `namesrvAccessKey`/`namesrvSecretKey`); route
/// and cluster queries stay open, as RocketMQ 4.9's name server serves them to every client.
pub const ADMIN_CODES: &[i32] = &[
    rc::REGISTER_BROKER,
    rc::UNREGISTER_BROKER,
    rc::DELETE_TOPIC_IN_NAMESRV,
    rc::PUT_KV_CONFIG,
    rc::DELETE_KV_CONFIG,
];

impl NamesrvHandler {
    fn register(&self, ctx: &ChannelContext, req: &RemotingCommand) -> RemotingCommand {
        let h = match RegisterBrokerRequestHeader::from_ext(&req.ext_fields) {
            Ok(h) => h,
            Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
        };
        if h.compressed {
            return error(
                req,
                code::SYSTEM_ERROR,
                "compressed registration bodies are not supported; set compressedRegister=false",
            );
        }
        if h.body_crc32 != 0 && java_crc32(&req.body) != h.body_crc32 {
            return error(req, code::SYSTEM_ERROR, "crc32 not match");
        }
        let topics = if req.body.is_empty() {
            None
        } else {
            match parse_fastjson::<RegisterBrokerBody>(&req.body) {
                Ok(b) => Some(b.topic_config_serialize_wrapper),
                Err(e) => {
                    return error(
                        req,
                        code::SYSTEM_ERROR,
                        format!("bad RegisterBrokerBody: {e}"),
                    )
                }
            }
        };
        let result = self.state.routes.lock().register(
            Registration {
                cluster: h.cluster_name,
                broker_addr: h.broker_addr,
                broker_name: h.broker_name,
                broker_id: h.broker_id,
                ha_server_addr: h.ha_server_addr,
                topics,
                channel: Some(ctx.id),
            },
            Instant::now(),
        );
        let resp = with_header(
            ok(req),
            &RegisterBrokerResponseHeader {
                ha_server_addr: result.ha_server_addr,
                master_addr: result.master_addr,
            },
        );
        match serde_json::to_vec(&KVTable::default()) {
            Ok(b) => resp.with_body(b),
            Err(_) => resp,
        }
    }

    fn unregister(&self, req: &RemotingCommand) -> RemotingCommand {
        match UnRegisterBrokerRequestHeader::from_ext(&req.ext_fields) {
            Ok(h) => {
                self.state.routes.lock().unregister_addr(&h.broker_addr);
                ok(req)
            }
            Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
        }
    }

    fn route(&self, req: &RemotingCommand) -> RemotingCommand {
        let h = match GetRouteInfoRequestHeader::from_ext(&req.ext_fields) {
            Ok(h) => h,
            Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
        };
        match self.state.routes.lock().route(&h.topic) {
            Some(r) => json_body(req, &r),
            None => error(
                req,
                code::TOPIC_NOT_EXIST,
                format!(
                    "No topic route info in name server for the topic: {}",
                    h.topic
                ),
            ),
        }
    }

    fn query_data_version(&self, req: &RemotingCommand) -> RemotingCommand {
        let h = match QueryDataVersionRequestHeader::from_ext(&req.ext_fields) {
            Ok(h) => h,
            Err(e) => return error(req, code::SYSTEM_ERROR, e.to_string()),
        };
        let version = parse_fastjson(&req.body).ok();
        let mut routes = self.state.routes.lock();
        let changed = !version.is_some_and(|v| routes.data_version_matches(&h.broker_addr, &v));
        routes.touch(&h.broker_addr, Instant::now());
        with_header(ok(req), &QueryDataVersionResponseHeader { changed })
    }

    fn kv(&self, req: &RemotingCommand) -> RemotingCommand {
        let mut kv = self.state.kv.lock();
        match req.code {
            rc::PUT_KV_CONFIG => match PutKVConfigRequestHeader::from_ext(&req.ext_fields) {
                Ok(h) => {
                    kv.entry(h.namespace).or_default().insert(h.key, h.value);
                    ok(req)
                }
                Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
            },
            rc::GET_KV_CONFIG => match GetKVConfigRequestHeader::from_ext(&req.ext_fields) {
                Ok(h) => match kv.get(&h.namespace).and_then(|m| m.get(&h.key)) {
                    Some(v) => with_header(
                        ok(req),
                        &GetKVConfigResponseHeader {
                            value: Some(v.clone()),
                        },
                    ),
                    None => error(
                        req,
                        code::QUERY_NOT_FOUND,
                        format!("No config item, Namespace: {} Key: {}", h.namespace, h.key),
                    ),
                },
                Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
            },
            rc::DELETE_KV_CONFIG => match DeleteKVConfigRequestHeader::from_ext(&req.ext_fields) {
                Ok(h) => {
                    if let Some(m) = kv.get_mut(&h.namespace) {
                        m.remove(&h.key);
                    }
                    ok(req)
                }
                Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
            },
            _ => match req.ext("namespace") {
                Some(ns) => match kv.get(ns) {
                    Some(m) => json_body(req, &KVTable { table: m.clone() }),
                    None => error(
                        req,
                        code::QUERY_NOT_FOUND,
                        format!("No config item, Namespace: {ns}"),
                    ),
                },
                None => error(
                    req,
                    code::SYSTEM_ERROR,
                    "missing required field `namespace`",
                ),
            },
        }
    }
}

impl RequestHandler for NamesrvHandler {
    async fn handle(
        &self,
        ctx: Arc<ChannelContext>,
        req: RemotingCommand,
    ) -> Option<RemotingCommand> {
        let denied = match &self.acl {
            Some(acl) if ADMIN_CODES.contains(&req.code) => {
                acl.validate_admin(&req, ctx.peer.ip()).err()
            }
            _ => None,
        };
        let resp = match denied {
            Some(denied) => {
                tracing::warn!(peer = %ctx.peer, code = req.code, reason = %denied, "name-server request refused by ACL");
                denied.response(&req)
            }
            None => self.dispatch(&ctx, &req),
        };
        super::metrics::on_request(req.code, resp.code);
        Some(resp)
    }

    fn on_close(&self, ctx: &ChannelContext) {
        self.state.routes.lock().on_channel_closed(ctx.id);
    }
}

impl NamesrvHandler {
    fn dispatch(&self, ctx: &Arc<ChannelContext>, req: &RemotingCommand) -> RemotingCommand {
        match req.code {
            rc::REGISTER_BROKER => self.register(ctx, req),
            rc::UNREGISTER_BROKER => self.unregister(req),
            rc::GET_ROUTEINFO_BY_TOPIC => self.route(req),
            rc::GET_BROKER_CLUSTER_INFO => json_body(req, &self.state.routes.lock().cluster_info()),
            rc::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => json_body(
                req,
                &TopicList {
                    topic_list: self.state.routes.lock().topics(),
                    broker_addr: None,
                },
            ),
            rc::GET_TOPICS_BY_CLUSTER => {
                match GetTopicsByClusterRequestHeader::from_ext(&req.ext_fields) {
                    Ok(h) => json_body(
                        req,
                        &TopicList {
                            topic_list: self.state.routes.lock().topics_of_cluster(&h.cluster),
                            broker_addr: None,
                        },
                    ),
                    Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
                }
            }
            rc::GET_SYSTEM_TOPIC_LIST_FROM_NS => {
                let info = self.state.routes.lock().cluster_info();
                let mut topics: std::collections::BTreeSet<String> =
                    info.cluster_addr_table.keys().cloned().collect();
                topics.extend(info.broker_addr_table.keys().cloned());
                json_body(
                    req,
                    &TopicList {
                        topic_list: topics,
                        broker_addr: None,
                    },
                )
            }
            rc::DELETE_TOPIC_IN_NAMESRV => {
                match DeleteTopicRequestHeader::from_ext(&req.ext_fields) {
                    Ok(h) => {
                        self.state.routes.lock().delete_topic(&h.topic);
                        ok(req)
                    }
                    Err(e) => error(req, code::SYSTEM_ERROR, e.to_string()),
                }
            }
            rc::QUERY_DATA_VERSION => self.query_data_version(req),
            rc::PUT_KV_CONFIG
            | rc::GET_KV_CONFIG
            | rc::DELETE_KV_CONFIG
            | rc::GET_KVLIST_BY_NAMESPACE => self.kv(req),
            _ => not_supported(req),
        }
    }
}
