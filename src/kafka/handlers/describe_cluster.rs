//! DescribeCluster v0-v1: the registered brokers, the cluster id and the controller (the leader
//! of the metadata log). From v1 the client says which endpoints it wants; a broker listener
//! serves broker endpoints only (KIP-919).

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::kafka::error_map::{self, Refusal};

/// Kafka's endpoint types (`EndpointType`).
const BROKERS: i8 = 1;
const CONTROLLERS: i8 = 2;

/// From v1 the request and the response carry an endpoint type.
fn has_endpoint_type(version: i16) -> bool {
    version >= 1
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: DescribeClusterRequest,
) -> Option<DescribeClusterResponse> {
    let version = ctx.api_version;
    let mut response = DescribeClusterResponse::default().with_error_message(None);
    if has_endpoint_type(version) {
        response.endpoint_type = request.endpoint_type;
        let refused = match request.endpoint_type {
            BROKERS => None,
            CONTROLLERS => Some((
                Refusal::MismatchedEndpointType,
                "this is a broker listener; controllers are not described here",
            )),
            _ => Some((Refusal::UnsupportedEndpointType, "unknown endpoint type")),
        };
        if let Some((refusal, message)) = refused {
            response.error_code = error_map::refusal_code(refusal);
            response.error_message = Some(StrBytes::from_static_str(message));
            return Some(response);
        }
    }
    let broker = &ctx.broker;
    let view = broker.services.metadata.current();
    let brokers = view
        .state
        .brokers
        .values()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id as i32))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(i32::from(b.port))
                .with_rack(None)
        })
        .collect();
    let controller = broker.services.metadata.replica().leader().leader;
    response.cluster_id = StrBytes::from_string(broker.config.cluster_id.clone());
    response.controller_id = BrokerId(controller.map_or(-1, |id| id as i32));
    response.brokers = brokers;
    Some(response)
}
