package io.thingdb.core;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The second process of {@link ThingStoreInputLimitsTest}'s two-JVM registration test: registers
 * {@link #types()} on the database given as the first argument (a JDBC URL), after printing {@code
 * ready} and reading one line from standard input (the parent's "go"), then prints each type's
 * registry id as {@code name=id} and exits 0; on failure it prints the stack trace and exits 1.
 */
final class SchemaRegistrar {
  private SchemaRegistrar() {}

  /** The types both processes register: enough that their registrations overlap. */
  static List<ThingType> types() {
    List<ThingType> out = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      out.add(
          ThingType.named("shared_" + i)
              .props(Prop.string("title", ""), Prop.int64("n", i), Prop.bool("flag", false))
              .build());
    }
    return out;
  }

  /** Registers {@link #types()} on {@code jdbcUrl}; returns "name=id" per type. */
  static List<String> register(String jdbcUrl) {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setUrl(jdbcUrl);
    ThingDbBuilder b = ThingDb.builder().database("main", Database.of(ds)).noCache();
    List<ThingType> types = types();
    for (ThingType t : types) {
      b.type(t, "main");
    }
    List<String> ids = new ArrayList<>();
    try (ThingDb db = b.build()) {
      for (ThingType t : types) {
        ids.add(t.name() + "=" + db.engine.handle(t).id);
      }
    }
    return ids;
  }

  public static void main(String[] args) {
    try {
      System.out.println("ready");
      System.out.flush();
      new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
      for (String id : register(args[0])) {
        System.out.println(id);
      }
      System.out.flush();
      System.exit(0);
    } catch (Throwable e) {
      e.printStackTrace(System.out);
      System.out.flush();
      System.exit(1);
    }
  }
}
