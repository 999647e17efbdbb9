import java.io.IOException;
import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * One OpenSearch node for the local stack, on exactly the ports it is given.
 *
 * <p>The runner's own main() silently moves HTTP to the next free port (and refuses any port
 * above 9299), binds every loopback address, and swallows the error when a node cannot start.
 * Usage: {@code java -cp 'libs/*:classes' Launcher <basePath> <httpPort> <transportPort>}.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Launcher <basePath> <httpPort> <transportPort>");
            System.exit(2);
        }
        String basePath = args[0];
        int httpPort = Integer.parseInt(args[1]);
        String transportPort = args[2];
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1); // exactly httpPort, or fail: never another port
        runner.onBuild((index, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("transport.port", transportPort);
            // A nearly full development disk must not turn indices read-only.
            settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // A node that does not close within 15 s is halted: `stack down` must not hang.
            Thread watchdog = new Thread(() -> {
                try {
                    Thread.sleep(15_000);
                } catch (InterruptedException e) {
                    return;
                }
                Runtime.getRuntime().halt(0);
            });
            watchdog.setDaemon(true);
            watchdog.start();
            try {
                runner.close();
            } catch (IOException e) {
                e.printStackTrace();
            }
        }));
        try {
            runner.build(OpenSearchRunner.newConfigs()
                    .basePath(basePath)
                    .numOfNode(1)
                    .baseHttpPort(httpPort - 1)
                    .clusterName("parley-local")
                    .printOnFailure());
            runner.ensureYellow();
        } catch (Throwable e) {
            System.err.println("OpenSearch did not start:");
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("OpenSearch node ready on 127.0.0.1:" + httpPort);
        while (!runner.isClosed()) {
            Thread.sleep(5000);
        }
    }
}
