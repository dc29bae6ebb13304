//! What every handler gets and gives: `RequestContext` in, a typed response out, framed with the
//! right response header. One file per API beside this one; `versions.rs` lists them.

pub(crate) mod alter_configs;
pub(crate) mod api_versions;
pub(crate) mod coordinator;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_producers;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod sync_group;

use std::future::Future;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use crate::kafka::context::BrokerContext;

/// Everything a handler may need besides its decoded request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The shared broker: config now; partitions and metadata as they land.
    pub broker: Arc<BrokerContext>,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<StrBytes>,
    /// Connection number, for logs.
    pub conn: u64,
    /// The client's address as Kafka shows it in DescribeGroups (`/127.0.0.1`).
    pub client_host: Arc<str>,
}

/// A request that could not be served; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandlerError {
    #[error("undecodable body: {0}")]
    Decode(anyhow::Error),
    #[error("cannot encode the response: {0}")]
    Encode(anyhow::Error),
}

/// A handler's answer, framed (size prefix included); `None` = nothing goes back (acks=0).
pub(crate) type Reply = Result<Option<Bytes>, HandlerError>;

/// The type-erased entry point stored in the API table.
pub(crate) type Route = fn(RequestContext, Bytes) -> BoxFuture<'static, Reply>;

/// Decodes `body` as `Req`, runs `handler`, frames its response for the request's version.
pub(crate) fn serve<Req, Resp, F, Fut>(
    ctx: RequestContext,
    mut body: Bytes,
    handler: F,
) -> BoxFuture<'static, Reply>
where
    Req: Decodable + Send + 'static,
    Resp: Encodable + HeaderVersion + Send + 'static,
    F: FnOnce(RequestContext, Req) -> Fut + Send + 'static,
    Fut: Future<Output = Option<Resp>> + Send + 'static,
{
    Box::pin(async move {
        let version = ctx.api_version;
        let correlation_id = ctx.correlation_id;
        let request = Req::decode(&mut body, version).map_err(HandlerError::Decode)?;
        match handler(ctx, request).await {
            None => Ok(None),
            Some(response) => encode_response(correlation_id, version, &response),
        }
    })
}

/// `size | response header | body`, with the header version the response type prescribes for
/// `version` (ApiVersions: always v0; flexible versions: v1).
pub(crate) fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: &R,
) -> Reply {
    let header_version = R::header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| Ok(h + response.compute_size(version)?))
        .map_err(HandlerError::Encode)?;
    let prefix = i32::try_from(size)
        .map_err(|_| HandlerError::Encode(anyhow::anyhow!("response of {size} bytes")))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(prefix);
    header
        .encode(&mut buf, header_version)
        .map_err(HandlerError::Encode)?;
    response
        .encode(&mut buf, version)
        .map_err(HandlerError::Encode)?;
    Ok(Some(buf.freeze()))
}
