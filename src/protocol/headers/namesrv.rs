//! Name server headers: REGISTER_BROKER (103), UNREGISTER_BROKER (104), GET_ROUTEINFO_BY_TOPIC
//! (105), the KV config codes (100/101/102), GET_TOPICS_BY_CLUSTER (224) and
//! QUERY_DATA_VERSION (322).

use crate::protocol::header::{
    opt_bool, opt_i32, opt_str, put, put_opt, req_bool, req_i64, req_str, CommandHeader, ExtFields,
    HeaderError,
};

/// REGISTER_BROKER request; the body is `RegisterBrokerBody` JSON (or, with `compressed`, a
/// deflate format LedgerMQ brokers never send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBrokerRequestHeader {
    pub broker_name: String,
    /// `ip:port` clients connect to.
    pub broker_addr: String,
    pub cluster_name: String,
    /// `ip:port` of the broker's HA service.
    pub ha_server_addr: String,
    /// 0 = master.
    pub broker_id: i64,
    pub compressed: bool,
    /// CRC32 of the body; 0 = do not check.
    pub body_crc32: i32,
}

impl CommandHeader for RegisterBrokerRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "RegisterBrokerRequestHeader";
        Ok(RegisterBrokerRequestHeader {
            broker_name: req_str(ext, R, "brokerName")?,
            broker_addr: req_str(ext, R, "brokerAddr")?,
            cluster_name: req_str(ext, R, "clusterName")?,
            ha_server_addr: req_str(ext, R, "haServerAddr")?,
            broker_id: req_i64(ext, R, "brokerId")?,
            compressed: opt_bool(ext, "compressed").unwrap_or(false),
            body_crc32: opt_i32(ext, R, "bodyCrc32")?.unwrap_or(0),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "brokerName", &self.broker_name);
        put(&mut ext, "brokerAddr", &self.broker_addr);
        put(&mut ext, "clusterName", &self.cluster_name);
        put(&mut ext, "haServerAddr", &self.ha_server_addr);
        put(&mut ext, "brokerId", self.broker_id);
        put(&mut ext, "compressed", self.compressed);
        put(&mut ext, "bodyCrc32", self.body_crc32);
        ext
    }
}

/// REGISTER_BROKER response header: for a slave whose master is registered, the master's HA
/// address and client address; empty for a master.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterBrokerResponseHeader {
    pub ha_server_addr: Option<String>,
    pub master_addr: Option<String>,
}

impl CommandHeader for RegisterBrokerResponseHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Ok(RegisterBrokerResponseHeader {
            ha_server_addr: opt_str(ext, "haServerAddr"),
            master_addr: opt_str(ext, "masterAddr"),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put_opt(&mut ext, "haServerAddr", self.ha_server_addr.as_ref());
        put_opt(&mut ext, "masterAddr", self.master_addr.as_ref());
        ext
    }
}

/// Declares a header made of the broker identity: brokerName, brokerAddr, clusterName,
/// brokerId, all required.
macro_rules! broker_identity_header {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub broker_name: String,
            pub broker_addr: String,
            pub cluster_name: String,
            pub broker_id: i64,
        }

        impl CommandHeader for $name {
            fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
                const R: &str = stringify!($name);
                Ok($name {
                    broker_name: req_str(ext, R, "brokerName")?,
                    broker_addr: req_str(ext, R, "brokerAddr")?,
                    cluster_name: req_str(ext, R, "clusterName")?,
                    broker_id: req_i64(ext, R, "brokerId")?,
                })
            }

            fn to_ext(&self) -> ExtFields {
                let mut ext = ExtFields::new();
                put(&mut ext, "brokerName", &self.broker_name);
                put(&mut ext, "brokerAddr", &self.broker_addr);
                put(&mut ext, "clusterName", &self.cluster_name);
                put(&mut ext, "brokerId", self.broker_id);
                ext
            }
        }
    };
}

broker_identity_header!(
    /// UNREGISTER_BROKER request, sent on clean shutdown.
    UnRegisterBrokerRequestHeader
);
broker_identity_header!(
    /// QUERY_DATA_VERSION request; the body is the broker's `DataVersion` JSON.
    QueryDataVersionRequestHeader
);

/// QUERY_DATA_VERSION response header; the body is the name server's `DataVersion` JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryDataVersionResponseHeader {
    /// True when the name server's copy differs from the broker's (it must re-register).
    pub changed: bool,
}

impl CommandHeader for QueryDataVersionResponseHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Ok(QueryDataVersionResponseHeader {
            changed: req_bool(ext, "QueryDataVersionResponseHeader", "changed")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "changed", self.changed);
        ext
    }
}

/// GET_ROUTEINFO_BY_TOPIC request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRouteInfoRequestHeader {
    pub topic: String,
    /// 4.9.4+ clients ask for standard JSON (quoted broker-id keys). LedgerMQ always writes
    /// standard JSON, so this is informational.
    pub accept_standard_json_only: Option<bool>,
}

impl CommandHeader for GetRouteInfoRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Ok(GetRouteInfoRequestHeader {
            topic: req_str(ext, "GetRouteInfoRequestHeader", "topic")?,
            accept_standard_json_only: opt_bool(ext, "acceptStandardJsonOnly"),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "topic", &self.topic);
        put_opt(
            &mut ext,
            "acceptStandardJsonOnly",
            self.accept_standard_json_only,
        );
        ext
    }
}

/// GET_KV_CONFIG request; answer 22 QUERY_NOT_FOUND when the key is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetKVConfigRequestHeader {
    pub namespace: String,
    pub key: String,
}

impl CommandHeader for GetKVConfigRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "GetKVConfigRequestHeader";
        Ok(GetKVConfigRequestHeader {
            namespace: req_str(ext, R, "namespace")?,
            key: req_str(ext, R, "key")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "namespace", &self.namespace);
        put(&mut ext, "key", &self.key);
        ext
    }
}

/// DELETE_KV_CONFIG request: the same fields as GET_KV_CONFIG.
pub type DeleteKVConfigRequestHeader = GetKVConfigRequestHeader;

/// GET_KV_CONFIG response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetKVConfigResponseHeader {
    pub value: Option<String>,
}

impl CommandHeader for GetKVConfigResponseHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Ok(GetKVConfigResponseHeader {
            value: opt_str(ext, "value"),
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put_opt(&mut ext, "value", self.value.as_ref());
        ext
    }
}

/// PUT_KV_CONFIG request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutKVConfigRequestHeader {
    pub namespace: String,
    pub key: String,
    pub value: String,
}

impl CommandHeader for PutKVConfigRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "PutKVConfigRequestHeader";
        Ok(PutKVConfigRequestHeader {
            namespace: req_str(ext, R, "namespace")?,
            key: req_str(ext, R, "key")?,
            value: req_str(ext, R, "value")?,
        })
    }

    fn to_ext(&self) -> ExtFields {
        let mut ext = ExtFields::new();
        put(&mut ext, "namespace", &self.namespace);
        put(&mut ext, "key", &self.key);
        put(&mut ext, "value", &self.value);
        ext
    }
}

string_header!(
    /// GET_TOPICS_BY_CLUSTER request; the answer body is `TopicList`.
    GetTopicsByClusterRequestHeader { cluster: "cluster" }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::header::ext_from;

    #[test]
    fn register_broker_java_form() {
        let java = ext_from([
            ("bodyCrc32", "-123456"),
            ("brokerAddr", "10.0.0.1:10911"),
            ("brokerId", "0"),
            ("brokerName", "broker-a"),
            ("clusterName", "DefaultCluster"),
            ("compressed", "false"),
            ("haServerAddr", "10.0.0.1:10912"),
        ]);
        let h = RegisterBrokerRequestHeader::from_ext(&java).unwrap();
        assert_eq!(h.body_crc32, -123_456);
        assert!(!h.compressed);
        assert_eq!(h.to_ext(), java);
        // Older brokers send neither compressed nor bodyCrc32.
        let mut old = java.clone();
        old.remove("compressed");
        old.remove("bodyCrc32");
        let o = RegisterBrokerRequestHeader::from_ext(&old).unwrap();
        assert_eq!((o.compressed, o.body_crc32), (false, 0));
        let mut missing = java;
        missing.remove("haServerAddr");
        assert_eq!(
            RegisterBrokerRequestHeader::from_ext(&missing)
                .unwrap_err()
                .to_string(),
            "missing required field `haServerAddr` for request RegisterBrokerRequestHeader"
        );
    }

    #[test]
    fn register_broker_response() {
        let master = RegisterBrokerResponseHeader::default();
        assert!(master.to_ext().is_empty());
        let slave = RegisterBrokerResponseHeader {
            ha_server_addr: Some("10.0.0.1:10912".into()),
            master_addr: Some("10.0.0.1:10911".into()),
        };
        assert_eq!(
            RegisterBrokerResponseHeader::from_ext(&slave.to_ext()),
            Ok(slave)
        );
    }

    #[test]
    fn broker_identity_headers() {
        let u = UnRegisterBrokerRequestHeader {
            broker_name: "b".into(),
            broker_addr: "a:1".into(),
            cluster_name: "c".into(),
            broker_id: 1,
        };
        assert_eq!(
            UnRegisterBrokerRequestHeader::from_ext(&u.to_ext()),
            Ok(u.clone())
        );
        let mut ext = u.to_ext();
        ext.remove("brokerId");
        assert_eq!(
            QueryDataVersionRequestHeader::from_ext(&ext)
                .unwrap_err()
                .to_string(),
            "missing required field `brokerId` for request QueryDataVersionRequestHeader"
        );
        let r = QueryDataVersionResponseHeader { changed: true };
        assert_eq!(r.to_ext(), ext_from([("changed", "true")]));
        assert_eq!(
            QueryDataVersionResponseHeader::from_ext(&ext_from([("changed", "1")])),
            Ok(r)
        );
        assert!(
            QueryDataVersionResponseHeader::from_ext(&ext_from([("changed", "perhaps")])).is_err()
        );
    }

    #[test]
    fn route_info_java_and_cpp() {
        let java = ext_from([("acceptStandardJsonOnly", "true"), ("topic", "TopicTest")]);
        let h = GetRouteInfoRequestHeader::from_ext(&java).unwrap();
        assert_eq!(h.accept_standard_json_only, Some(true));
        assert_eq!(h.to_ext(), java);
        let cpp = ext_from([
            ("topic", "TopicTest"),
            ("AccessKey", ""),
            ("OnsChannel", "ALIYUN"),
        ]);
        let c = GetRouteInfoRequestHeader::from_ext(&cpp).unwrap();
        assert_eq!(c.accept_standard_json_only, None);
        assert_eq!(c.to_ext(), ext_from([("topic", "TopicTest")]));
    }

    #[test]
    fn kv_config_and_topics_by_cluster() {
        let g = GetKVConfigRequestHeader {
            namespace: "ORDER_TOPIC_CONFIG".into(),
            key: "T".into(),
        };
        assert_eq!(GetKVConfigRequestHeader::from_ext(&g.to_ext()), Ok(g));
        assert_eq!(
            DeleteKVConfigRequestHeader::from_ext(&ext_from([("namespace", "n")]))
                .unwrap_err()
                .field(),
            "key"
        );
        let r = GetKVConfigResponseHeader {
            value: Some("broker-a:4".into()),
        };
        assert_eq!(GetKVConfigResponseHeader::from_ext(&r.to_ext()), Ok(r));
        let p = PutKVConfigRequestHeader {
            namespace: "n".into(),
            key: "k".into(),
            value: "v".into(),
        };
        assert_eq!(PutKVConfigRequestHeader::from_ext(&p.to_ext()), Ok(p));
        let c =
            GetTopicsByClusterRequestHeader::from_ext(&ext_from([("cluster", "DefaultCluster")]));
        assert_eq!(c.map(|c| c.cluster), Ok("DefaultCluster".to_string()));
    }
}
