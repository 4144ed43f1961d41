package io.kvgate.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;

/**
 * The floor under any JVM gateway on a given machine, for {@code bench/overhead.sh --bare}: a plain
 * Netty HTTP/1.1 relay that reads each request whole (as kvgate must, to hash the prompt before it
 * can route) and forwards it on a keep-alive upstream connection of its own event loop, then relays
 * the response as it arrives (streams included), parsing nothing and routing nothing. Netty is the
 * HTTP layer under Vert.x and so under kvgate; the difference between this relay and nginx is what
 * the JVM and Netty cost on the machine, the difference between kvgate and this relay is what
 * kvgate's own work (Vert.x's HTTP layer, parsing, hashing, routing, metrics, limits) costs.
 *
 * <p>One upstream connection per client connection, opened on its first request: wrk's clients keep
 * their connections and send one request at a time, so the pairing is what a pool would give them.
 * Response chunks are flushed once per read from the upstream; reading from the upstream pauses
 * while the client's socket is not writable.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.kvgate.bench.BareRelay LISTEN_PORT UPSTREAM_PORT
 * [EVENT_LOOPS]} (host 127.0.0.1 both sides; by default one event loop per available processor, as
 * kvgate's {@code listener.eventLoops}).
 */
public final class BareRelay {

  private BareRelay() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length < 2) {
      System.err.println("usage: BareRelay LISTEN_PORT UPSTREAM_PORT [EVENT_LOOPS]");
      System.exit(2);
    }
    int listen = Integer.parseInt(args[0]);
    InetSocketAddress upstream = new InetSocketAddress("127.0.0.1", Integer.parseInt(args[1]));
    int loops =
        args.length > 2 ? Integer.parseInt(args[2]) : Runtime.getRuntime().availableProcessors();
    Running relay = start(listen, upstream, loops);
    System.out.println(
        "bare relay on 127.0.0.1:"
            + relay.port()
            + " -> "
            + upstream
            + ", "
            + loops
            + " event loop(s), "
            + (Epoll.isAvailable() ? "epoll" : "nio"));
    relay.server().closeFuture().sync();
  }

  /** A started relay: its listening channel and its event loops. */
  record Running(Channel server, EventLoopGroup group) implements AutoCloseable {
    int port() {
      return ((InetSocketAddress) server.localAddress()).getPort();
    }

    @Override
    public void close() {
      server.close().syncUninterruptibly();
      group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  /** Starts a relay on 127.0.0.1:{@code listen} (0: any free port) to {@code upstream}. */
  static Running start(int listen, InetSocketAddress upstream, int loops)
      throws InterruptedException {
    boolean epoll = Epoll.isAvailable();
    EventLoopGroup group = epoll ? new EpollEventLoopGroup(loops) : new NioEventLoopGroup(loops);
    Class<? extends Channel> clientType = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
    ServerBootstrap server =
        new ServerBootstrap()
            .group(group)
            .channel(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    ch.pipeline()
                        .addLast(new HttpServerCodec())
                        .addLast(new HttpObjectAggregator(64 << 20))
                        .addLast(new Downstream(upstream, clientType));
                  }
                });
    return new Running(server.bind("127.0.0.1", listen).sync().channel(), group);
  }

  /** One client connection: its requests, in order, over one upstream connection. */
  private static final class Downstream extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final InetSocketAddress address;
    private final Class<? extends Channel> clientType;
    private final ArrayDeque<FullHttpRequest> waiting = new ArrayDeque<>();
    private Channel upstream;
    private boolean connecting;

    Downstream(InetSocketAddress address, Class<? extends Channel> clientType) {
      super(false);
      this.address = address;
      this.clientType = clientType;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
      if (upstream != null && upstream.isActive()) {
        upstream.writeAndFlush(request);
        return;
      }
      waiting.add(request);
      if (connecting) return;
      connecting = true;
      Channel client = ctx.channel();
      ChannelFuture connect =
          new Bootstrap()
              .group(client.eventLoop())
              .channel(clientType)
              .option(ChannelOption.TCP_NODELAY, true)
              .handler(
                  new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                      ch.pipeline().addLast(new HttpClientCodec()).addLast(new Upstream(client));
                    }
                  })
              .connect(address);
      connect.addListener(
          f -> {
            connecting = false;
            if (!f.isSuccess()) {
              for (FullHttpRequest r; (r = waiting.poll()) != null; ) r.release();
              DefaultFullHttpResponse bad =
                  new DefaultFullHttpResponse(
                      HttpVersion.HTTP_1_1,
                      HttpResponseStatus.BAD_GATEWAY,
                      Unpooled.copiedBuffer("upstream unreachable\n".getBytes()));
              bad.headers().set(HttpHeaderNames.CONTENT_LENGTH, bad.content().readableBytes());
              client.writeAndFlush(bad);
              return;
            }
            upstream = connect.channel();
            for (FullHttpRequest r; (r = waiting.poll()) != null; ) upstream.write(r);
            upstream.flush();
          });
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (upstream != null) upstream.config().setAutoRead(ctx.channel().isWritable());
      ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      for (FullHttpRequest r; (r = waiting.poll()) != null; ) r.release();
      if (upstream != null) upstream.close();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  /** The upstream side: every response part goes to the client as it is read. */
  private static final class Upstream extends SimpleChannelInboundHandler<HttpObject> {
    private final Channel client;

    Upstream(Channel client) {
      super(false);
      this.client = client;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, HttpObject part) {
      if (client.isActive()) client.write(part);
      else ReferenceCountUtil.release(part);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      client.flush();
      if (!client.isWritable()) ctx.channel().config().setAutoRead(false);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      client.close();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
