//! InitProducerId v0-v5 for idempotent producers: a producer id no other producer of the
//! cluster has, at epoch 0. As in Kafka, a producer without a transactional id always gets a
//! new id, also when it sends its current one to bump the epoch (KIP-360): it starts its
//! sequences afresh under the new id. Transactional ids are not served (FindCoordinator does
//! not locate transaction coordinators either).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;
use crate::kafka::error_map::{self, Refusal};

pub(crate) async fn handle(
    ctx: RequestContext,
    request: InitProducerIdRequest,
) -> Option<InitProducerIdResponse> {
    let refused = |code: i16| {
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if request.transactional_id.is_some() {
        return Some(refused(error_map::refusal_code(Refusal::InvalidRequest)));
    }
    match ctx.broker.services.producer_ids.next().await {
        Ok(id) => Some(
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0),
        ),
        Err(e) => {
            tracing::info!(error = %e, "no producer id");
            Some(refused(error_map::propose_code(&e)))
        }
    }
}
