package io.kvgate.gateway.admin;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.kvgate.gateway.openai.OpenAiException;
import io.kvgate.proto.v1.AdminServiceGrpc;
import io.kvgate.proto.v1.EndpointInfo;
import io.kvgate.proto.v1.EndpointRef;
import io.kvgate.proto.v1.ExplainRequest;
import io.kvgate.proto.v1.ExplainResponse;
import io.kvgate.proto.v1.ListEndpointsRequest;
import io.kvgate.proto.v1.ListEndpointsResponse;
import io.kvgate.proto.v1.ListModelsRequest;
import io.kvgate.proto.v1.ListModelsResponse;
import io.kvgate.proto.v1.ReloadPoliciesRequest;
import io.kvgate.proto.v1.ReloadPoliciesResponse;
import io.vertx.core.buffer.Buffer;
import java.util.function.Supplier;

/**
 * {@code kvgate.v1.AdminService} over {@link AdminOps}. Calls run on the gRPC listener's executor;
 * the reads are thread-safe, and the reload's file reads run on a Vert.x worker whose completion
 * answers the call. Errors map from HTTP statuses: 400 INVALID_ARGUMENT, 404 NOT_FOUND, 503
 * UNAVAILABLE, else INTERNAL; the message is the same as the HTTP answer's.
 */
public final class AdminGrpcService extends AdminServiceGrpc.AdminServiceImplBase {

  private final AdminOps ops;

  public AdminGrpcService(AdminOps ops) {
    this.ops = ops;
  }

  @Override
  public void listModels(ListModelsRequest req, StreamObserver<ListModelsResponse> out) {
    answer(out, ops::models);
  }

  @Override
  public void listEndpoints(ListEndpointsRequest req, StreamObserver<ListEndpointsResponse> out) {
    answer(out, () -> ops.endpoints(req.getModel()));
  }

  @Override
  public void drainEndpoint(EndpointRef req, StreamObserver<EndpointInfo> out) {
    answer(out, () -> ops.drain(req, true));
  }

  @Override
  public void undrainEndpoint(EndpointRef req, StreamObserver<EndpointInfo> out) {
    answer(out, () -> ops.drain(req, false));
  }

  @Override
  public void reloadPolicies(
      ReloadPoliciesRequest req, StreamObserver<ReloadPoliciesResponse> out) {
    ops.reload()
        .onComplete(
            ar -> {
              if (ar.failed()) {
                out.onError(status(ar.cause()).asRuntimeException());
              } else if (ar.result().getProblemsCount() > 0) {
                out.onError(
                    Status.INVALID_ARGUMENT
                        .withDescription(String.join("; ", ar.result().getProblemsList()))
                        .asRuntimeException());
              } else {
                out.onNext(ar.result());
                out.onCompleted();
              }
            });
  }

  @Override
  public void explain(ExplainRequest req, StreamObserver<ExplainResponse> out) {
    String path = req.getPath().isEmpty() ? "/v1/chat/completions" : req.getPath();
    answer(out, () -> ops.explain(path, Buffer.buffer(req.getBody().toByteArray())));
  }

  private static <T> void answer(StreamObserver<T> out, Supplier<T> op) {
    T result;
    try {
      result = op.get();
    } catch (RuntimeException e) {
      out.onError(status(e).asRuntimeException());
      return;
    }
    out.onNext(result);
    out.onCompleted();
  }

  static Status status(Throwable t) {
    if (t instanceof OpenAiException e) {
      Status s =
          switch (e.status()) {
            case 400, 413, 415, 422 -> Status.INVALID_ARGUMENT;
            case 401 -> Status.UNAUTHENTICATED;
            case 403 -> Status.PERMISSION_DENIED;
            case 404 -> Status.NOT_FOUND;
            case 429 -> Status.RESOURCE_EXHAUSTED;
            case 503 -> Status.UNAVAILABLE;
            default -> Status.INTERNAL;
          };
      return s.withDescription(e.getMessage());
    }
    return Status.INTERNAL.withDescription(String.valueOf(t));
  }
}
