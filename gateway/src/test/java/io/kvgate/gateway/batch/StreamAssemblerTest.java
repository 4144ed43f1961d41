package io.kvgate.gateway.batch;

import static org.junit.jupiter.api.Assertions.*;

import io.kvgate.gateway.TestSupport;
import io.kvgate.sim.SimEngine;
import io.kvgate.sim.SimEngineConfig;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import org.junit.jupiter.api.Test;

class StreamAssemblerTest {

  private static StreamAssembler assemble(boolean chat, String... payloads) {
    StreamAssembler a = new StreamAssembler(chat);
    for (String p : payloads) a.onData(p);
    return a;
  }

  /** Single quotes for readability in the test's JSON. */
  private static String j(String s) {
    return s.replace('\'', '"');
  }

  private static JsonObject json(String s) {
    return new JsonObject(j(s));
  }

  @Test
  void assemblesAVllmChatStreamIntoTheNonStreamedBody() {
    String head =
        "'id':'chatcmpl-1','object':'chat.completion.chunk','created':1700000000,'model':'m'";
    StringBuilder sse = new StringBuilder();
    for (String p :
        List.of(
            "{"
                + head
                + ",'choices':[{'index':0,'delta':{'role':'assistant','content':''},"
                + "'logprobs':null,'finish_reason':null}]}",
            "{"
                + head
                + ",'choices':[{'index':0,'delta':{'content':'Hel'},'logprobs':null,"
                + "'finish_reason':null}]}",
            "{"
                + head
                + ",'choices':[{'index':0,'delta':{'content':'lo, w\u00f6rld'},"
                + "'logprobs':null,'finish_reason':null}]}",
            "{"
                + head
                + ",'choices':[{'index':0,'delta':{'content':'!'},'logprobs':null,"
                + "'finish_reason':'stop','stop_reason':null}]}",
            "{"
                + head
                + ",'choices':[],'usage':{'prompt_tokens':12,'total_tokens':16,"
                + "'completion_tokens':4,'prompt_tokens_details':{'cached_tokens':0}}}")) {
      sse.append("data: ").append(j(p)).append("\n\n");
    }
    sse.append("data: [DONE]\n\n");

    StreamAssembler a = new StreamAssembler(true);
    SseDecoder d = new SseDecoder(a::onData, 4096);
    assertFalse(a.started());
    d.feed(Buffer.buffer(sse.toString()));
    d.end();
    assertTrue(a.started());
    assertTrue(a.done());
    assertNull(a.error());
    JsonObject expected =
        json(
            "{'id':'chatcmpl-1','object':'chat.completion','created':1700000000,'model':'m',"
                + "'choices':[{'index':0,'message':{'role':'assistant','content':'Hello, w\u00f6rld!'},"
                + "'logprobs':null,'finish_reason':'stop','stop_reason':null}],"
                + "'usage':{'prompt_tokens':12,'total_tokens':16,'completion_tokens':4,"
                + "'prompt_tokens_details':{'cached_tokens':0}}}");
    assertEquals(expected, a.result());
    assertEquals(expected.encode(), a.result().encode(), "same fields in the same order");
  }

  @Test
  void startedOnlyOnceAChoiceHasADelta() {
    StreamAssembler a = new StreamAssembler(true);
    a.onData(j("{'id':'x','choices':[]}"));
    assertFalse(a.started());
    assertFalse(a.done());
    a.onData(j("{'id':'x','choices':[{'index':0,'delta':{'role':'assistant'}}]}"));
    assertTrue(a.started());
    a.onData(" [DONE] ");
    assertTrue(a.done());

    StreamAssembler c = new StreamAssembler(false);
    c.onData(j("{'id':'x','choices':[{'index':0,'finish_reason':null}]}"));
    assertFalse(c.started());
    c.onData(j("{'id':'x','choices':[{'index':0,'text':''}]}"));
    assertTrue(c.started());
  }

  @Test
  void mergesInterleavedChoicesByIndex() {
    StreamAssembler a =
        assemble(
            true,
            j(
                "{'id':'c','created':5,'model':'m','system_fingerprint':'fp','choices':["
                    + "{'index':1,'delta':{'role':'assistant','content':''}},"
                    + "{'index':0,'delta':{'role':'assistant','content':''}}]}"),
            j("{'id':'c','choices':[{'index':1,'delta':{'content':'B1'}}]}"),
            j("{'id':'c','choices':[{'index':0,'delta':{'content':'A1'}}]}"),
            j(
                "{'id':'c','choices':[{'index':0,'delta':{'content':' A2'},'finish_reason':'stop'}]}"),
            j("{'id':'c','choices':[{'index':1,'delta':{'content':' B2'}}]}"),
            j("{'id':'c','choices':[{'index':1,'delta':{},'finish_reason':'length'}]}"),
            j(
                "{'id':'c','choices':[],'usage':{'prompt_tokens':3,'completion_tokens':4,"
                    + "'total_tokens':7}}"),
            "[DONE]");
    JsonObject expected =
        json(
            "{'id':'c','object':'chat.completion','created':5,'model':'m',"
                + "'system_fingerprint':'fp','choices':["
                + "{'index':0,'message':{'role':'assistant','content':'A1 A2'},'logprobs':null,"
                + "'finish_reason':'stop'},"
                + "{'index':1,'message':{'role':'assistant','content':'B1 B2'},'logprobs':null,"
                + "'finish_reason':'length'}],"
                + "'usage':{'prompt_tokens':3,'completion_tokens':4,'total_tokens':7}}");
    assertEquals(expected, a.result());
  }

  @Test
  void mergesToolCallsSplitAcrossChunks() {
    StreamAssembler a =
        assemble(
            true,
            j(
                "{'id':'t','created':1,'model':'gpt','choices':[{'index':0,'delta':{'role':"
                    + "'assistant','content':null,'tool_calls':[{'index':0,'id':'call_a','type':"
                    + "'function','function':{'name':'get_weather','arguments':''}}],'refusal':null},"
                    + "'logprobs':null,'finish_reason':null}]}"),
            j(
                "{'id':'t','choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':"
                    + "{'arguments':'{\\'ci'}}]}}]}"),
            j(
                "{'id':'t','choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'id':'call_b',"
                    + "'function':{'name':'get_','arguments':''}}]}}]}"),
            j(
                "{'id':'t','choices':[{'index':0,'delta':{'tool_calls':[{'index':1,'function':"
                    + "{'name':'time','arguments':'{}'}}]}}]}"),
            j(
                "{'id':'t','choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'function':"
                    + "{'arguments':'ty\\':\\'Oslo\\'}'}}]}}]}"),
            j(
                "{'id':'t','choices':[{'index':0,'delta':{},'logprobs':null,"
                    + "'finish_reason':'tool_calls'}]}"),
            "[DONE]");
    JsonObject expected =
        json(
            "{'id':'t','object':'chat.completion','created':1,'model':'gpt','choices':[{'index':0,"
                + "'message':{'role':'assistant','content':null,'tool_calls':["
                + "{'id':'call_a','type':'function','function':{'name':'get_weather',"
                + "'arguments':'{\\'city\\':\\'Oslo\\'}'}},"
                + "{'id':'call_b','type':'function','function':{'name':'get_time',"
                + "'arguments':'{}'}}]},"
                + "'logprobs':null,'finish_reason':'tool_calls'}],'usage':null}");
    assertEquals(expected, a.result());
    assertEquals(
        "{\"city\":\"Oslo\"}",
        a.result()
            .getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("message")
            .getJsonArray("tool_calls")
            .getJsonObject(0)
            .getJsonObject("function")
            .getString("arguments"));
  }

  @Test
  void concatenatesReasoningRefusalAndChatLogprobs() {
    StreamAssembler a =
        assemble(
            true,
            j(
                "{'id':'r','choices':[{'index':0,'delta':{'role':'assistant','reasoning_content':"
                    + "'Think'},'logprobs':{'content':[{'token':'Think','logprob':-0.1}]}}]}"),
            j(
                "{'id':'r','choices':[{'index':0,'delta':{'reasoning_content':'ing.'},"
                    + "'logprobs':{'content':[{'token':'ing.','logprob':-0.2}]}}]}"),
            j("{'id':'r','choices':[{'index':0,'delta':{'refusal':'No'},'logprobs':null}]}"),
            j(
                "{'id':'r','choices':[{'index':0,'delta':{'refusal':'pe.'},'finish_reason':'stop',"
                    + "'stop_reason':'</s>'}]}"),
            j(
                "{'id':'r','choices':[{'index':0,'delta':{},'finish_reason':null,"
                    + "'stop_reason':null}]}"));
    JsonObject choice = a.result().getJsonArray("choices").getJsonObject(0);
    assertEquals(
        json(
            "{'index':0,'message':{'role':'assistant','content':'','reasoning_content':"
                + "'Thinking.','refusal':'Nope.'},'logprobs':{'content':["
                + "{'token':'Think','logprob':-0.1},{'token':'ing.','logprob':-0.2}]},"
                + "'finish_reason':'stop','stop_reason':'</s>'}"),
        choice);
  }

  @Test
  void assemblesCompletionsTextAndLogprobs() {
    StreamAssembler a =
        assemble(
            false,
            j(
                "{'id':'cmpl-9','object':'text_completion','created':7,'model':'m','choices':["
                    + "{'index':0,'text':' Once','logprobs':{'tokens':[' Once'],'token_logprobs':[-1.5],"
                    + "'top_logprobs':[{' Once':-1.5}],'text_offset':[0]},'finish_reason':null,"
                    + "'stop_reason':null}]}"),
            j(
                "{'id':'cmpl-9','object':'text_completion','created':7,'model':'m','choices':["
                    + "{'index':0,'text':' upon','logprobs':{'tokens':[' upon'],'token_logprobs':[-0.5],"
                    + "'top_logprobs':[{' upon':-0.5}],'text_offset':[5]},'finish_reason':'length',"
                    + "'stop_reason':null}]}"),
            j(
                "{'id':'cmpl-9','object':'text_completion','created':7,'model':'m','choices':[],"
                    + "'usage':{'prompt_tokens':2,'total_tokens':4,'completion_tokens':2}}"),
            "[DONE]");
    assertTrue(a.started());
    JsonObject expected =
        json(
            "{'id':'cmpl-9','object':'text_completion','created':7,'model':'m','choices':["
                + "{'index':0,'text':' Once upon','logprobs':{'tokens':[' Once',' upon'],"
                + "'token_logprobs':[-1.5,-0.5],'top_logprobs':[{' Once':-1.5},{' upon':-0.5}],"
                + "'text_offset':[0,5]},'finish_reason':'length','stop_reason':null}],"
                + "'usage':{'prompt_tokens':2,'total_tokens':4,'completion_tokens':2}}");
    assertEquals(expected, a.result());
    assertEquals(expected.encode(), a.result().encode());
  }

  @Test
  void aResultHandedOutDoesNotChangeWithLaterChunks() {
    StreamAssembler a =
        assemble(
            false, j("{'id':'x','choices':[{'index':0,'text':'a','logprobs':{'tokens':['a']}}]}"));
    JsonObject first = a.result();
    a.onData(j("{'id':'x','choices':[{'index':0,'text':'b','logprobs':{'tokens':['b']}}]}"));
    assertEquals(
        new JsonArray().add("a"),
        first
            .getJsonArray("choices")
            .getJsonObject(0)
            .getJsonObject("logprobs")
            .getJsonArray("tokens"));
    assertEquals("ab", a.result().getJsonArray("choices").getJsonObject(0).getString("text"));
  }

  @Test
  void keepsAMidStreamError() {
    StreamAssembler a =
        assemble(
            true,
            j("{'id':'e','choices':[{'index':0,'delta':{'role':'assistant','content':'Par'}}]}"),
            j(
                "{'error':{'object':'error','message':'engine died','type':'InternalServerError',"
                    + "'param':null,'code':500}}"),
            "[DONE]");
    assertTrue(a.started());
    assertTrue(a.done());
    assertEquals(
        json(
            "{'object':'error','message':'engine died','type':'InternalServerError',"
                + "'param':null,'code':500}"),
        a.error());

    // older vLLM sends the error response itself
    StreamAssembler old =
        assemble(
            false, j("{'object':'error','message':'bad','type':'BadRequestError','code':400}"));
    assertEquals("bad", old.error().getString("message"));
    assertNull(new StreamAssembler(true).error());
  }

  @Test
  void rejectsAPayloadThatIsNotAJsonObject() {
    StreamAssembler a = new StreamAssembler(true);
    assertThrows(IllegalArgumentException.class, () -> a.onData("not json"));
    assertThrows(IllegalArgumentException.class, () -> a.onData("[1,2]"));
    assertThrows(IllegalArgumentException.class, () -> a.onData("{\"id\":"));
    assertThrows(IllegalArgumentException.class, () -> a.onData(""));
    assertFalse(a.started());
  }

  // ---- the project's simulated engine ----

  @Test
  void assemblesTheSimulatedEnginesStreamsLikeItsNonStreamedBodies() throws Exception {
    Vertx vertx = Vertx.vertx();
    SimEngineConfig fast = SimEngineConfig.builder().speed(1000).capacityBlocks(2048).build();
    // two engines, one request each: the same prompt finds no cached blocks on either
    SimEngine streaming = TestSupport.await(SimEngine.start(vertx, fast));
    SimEngine plain = TestSupport.await(SimEngine.start(vertx, fast));
    HttpClient client = vertx.createHttpClient();
    try {
      for (boolean chat : new boolean[] {true, false}) {
        String path = chat ? "/v1/chat/completions" : "/v1/completions";
        JsonObject req = new JsonObject().put("model", SimEngineConfig.DEFAULT_MODEL);
        req.put("max_tokens", 9);
        if (chat) {
          req.put(
              "messages",
              new JsonArray()
                  .add(new JsonObject().put("role", "user").put("content", "hi " + chat)));
        } else {
          req.put("prompt", "Once upon a time " + chat);
        }
        JsonObject streamReq =
            req.copy()
                .put("stream", true)
                .put("stream_options", new JsonObject().put("include_usage", true));

        StreamAssembler a = new StreamAssembler(chat);
        int[] pieces = {0};
        TestSupport.await(streamed(client, streaming.port(), path, streamReq, a, pieces));
        assertTrue(a.started());
        assertTrue(a.done());
        assertNull(a.error());
        JsonObject got = a.result();

        JsonObject want =
            TestSupport.await(
                client
                    .request(
                        new RequestOptions()
                            .setMethod(HttpMethod.POST)
                            .setHost("127.0.0.1")
                            .setPort(plain.port())
                            .setURI(path))
                    .compose(r -> r.send(req.encode()))
                    .compose(r -> r.body())
                    .map(Buffer::toJsonObject));

        // the generated words and the response ids differ between two requests to the simulator
        JsonObject gotChoice = got.getJsonArray("choices").getJsonObject(0);
        JsonObject wantChoice = want.getJsonArray("choices").getJsonObject(0);
        String text =
            chat
                ? gotChoice.getJsonObject("message").getString("content")
                : gotChoice.getString("text");
        assertTrue(text.matches("( [a-z]+){9}"), text);
        assertTrue(
            got.getString("id").startsWith(chat ? "chatcmpl-" : "cmpl-"), got.getString("id"));
        want.put("id", got.getString("id")).put("created", got.getValue("created"));
        if (chat) {
          JsonObject m = wantChoice.getJsonObject("message");
          m.put("content", text);
          // fields the simulator writes only into non-streamed bodies
          assertNull(m.remove("refusal"));
          assertEquals(new JsonArray(), m.remove("tool_calls"));
        } else {
          wantChoice.put("text", text);
        }
        assertNull(want.remove("prompt_logprobs"));
        assertNull(want.remove("kv_transfer_params"));
        assertEquals(want, got, "pieces: " + pieces[0]);
      }
    } finally {
      TestSupport.await(client.close());
      TestSupport.await(streaming.close());
      TestSupport.await(plain.close());
      TestSupport.await(vertx.close());
    }
  }

  /**
   * Streams a request's SSE body through a decoder into {@code a}, piece by piece as it comes. The
   * response's handlers are set by a callback chained inside the request's own callback, on the
   * event loop, before the response can arrive: a callback chained from the test thread can run
   * after the response's first chunks (even its end) were delivered to no handler.
   */
  private static Future<Void> streamed(
      HttpClient client, int port, String path, JsonObject body, StreamAssembler a, int[] pieces) {
    Promise<Void> done = Promise.promise();
    SseDecoder d = new SseDecoder(a::onData, 1 << 16);
    client
        .request(
            new RequestOptions()
                .setMethod(HttpMethod.POST)
                .setHost("127.0.0.1")
                .setPort(port)
                .setURI(path))
        .onFailure(done::tryFail)
        .onSuccess(
            r ->
                r.send(body.encode())
                    .onFailure(done::tryFail)
                    .onSuccess(
                        resp -> {
                          if (!resp.getHeader("content-type").startsWith("text/event-stream")) {
                            done.tryFail("not a stream: " + resp.getHeader("content-type"));
                          }
                          resp.handler(
                              b -> {
                                pieces[0]++;
                                try {
                                  d.feed(b);
                                } catch (RuntimeException e) {
                                  done.tryFail(e);
                                }
                              });
                          resp.exceptionHandler(done::tryFail);
                          resp.endHandler(
                              v -> {
                                try {
                                  d.end();
                                  done.tryComplete();
                                } catch (RuntimeException e) {
                                  done.tryFail(e);
                                }
                              });
                        }));
    return done.future();
  }
}
