import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.server.configuration.ServerSettings;

/**
 * Runs a Neo4j Community DBMS in this JVM, for lineagegraph's "server start" when no Docker
 * engine or Neo4j installation is at hand. By default only the Bolt connector listens.
 *
 * Arguments: HOME_DIR BOLT_PORT PAGE_CACHE_MIB PASSWORD_FILE [HTTP_PORT].
 * With HTTP_PORT the HTTP connector listens too, which makes the DBMS start Neo4j's web server:
 * the discovery document at /, the HTTP API under /db/, and Neo4j Browser under /browser/ when
 * the neo4j-browser jar is on the classpath.
 *
 * The password is read from a file (never the command line, where `ps` would show it) and is set
 * for the built-in `neo4j` user when the store is first created. SIGTERM runs the shutdown hook,
 * which closes the store cleanly.
 */
public final class LineagegraphNeo4j {
    private LineagegraphNeo4j() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 4 && args.length != 5) {
            System.err.println("usage: LineagegraphNeo4j HOME_DIR BOLT_PORT PAGE_CACHE_MIB PASSWORD_FILE [HTTP_PORT]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        long pageCacheBytes = Long.parseLong(args[2]) * 1024L * 1024L;
        String password = Files.readString(Path.of(args[3]), StandardCharsets.UTF_8).strip();
        Integer httpPort = args.length == 5 ? Integer.valueOf(args[4]) : null;
        boolean firstStart = !Files.exists(home.resolve("data").resolve("databases").resolve("system"));

        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pageCacheBytes)
                // Neo4j keeps two days of transaction logs by default (for backups and clusters,
                // which this server has not): ~1.2 GB per million imported records, 4.7 GB after
                // one run of the import benchmark. Recovery needs only those since the last
                // checkpoint, which Neo4j never prunes; older ones go beyond 1 GiB in all.
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "1G size");
        if (httpPort != null) {
            // The Browser module looks in HOME/web for zipped Browser releases and registers
            // nothing when that folder is missing; when it is empty it serves the Browser jar
            // found on the classpath.
            Files.createDirectories(home.resolve("web"));
            // Advertise the real ports: Browser learns where Bolt is from the discovery document,
            // which otherwise names the default :7687 and :7474.
            builder.setConfig(HttpConnector.enabled, true)
                    .setConfig(HttpConnector.listen_address, new SocketAddress("127.0.0.1", httpPort))
                    .setConfig(HttpConnector.advertised_address, new SocketAddress("127.0.0.1", httpPort))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                    // A local analyst tool: Browser should not report usage to Neo4j.
                    .setConfig(ServerSettings.allow_telemetry, false);
        }
        DatabaseManagementService dbms = builder.build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("lineagegraph-neo4j: shutting down");
            dbms.shutdown();
            stopped.countDown();
            System.out.println("lineagegraph-neo4j: stopped");
        }));

        if (firstStart) {
            // The embedded API runs as an internal user, so it may set the password without the
            // expired-credentials dance a Bolt client would need.
            dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        }
        String ready = "lineagegraph-neo4j: ready on bolt://127.0.0.1:" + port;
        if (httpPort != null) {
            ready += " and http://127.0.0.1:" + httpPort + "/";
        }
        System.out.println(ready);
        System.out.flush();
        stopped.await();
    }
}
