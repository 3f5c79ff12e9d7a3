package io.thingdb.examples.blog;

import com.github.mustachejava.DefaultMustacheFactory;
import com.github.mustachejava.Mustache;
import com.github.mustachejava.MustacheFactory;
import java.io.StringWriter;
import java.util.Map;

/**
 * The mustache templates in {@code src/main/resources/templates}: logic-less, and every {@code
 * {{value}}} is HTML-escaped by the engine (only {@code {{{...}}}} is not, and the templates use it
 * for nothing a user typed). Compiled once, then thread-safe.
 */
final class Templates {
  private final MustacheFactory factory = new DefaultMustacheFactory("templates");

  /** Renders {@code templates/<name>.mustache} with {@code scope}. */
  String render(String name, Map<String, Object> scope) {
    Mustache m = factory.compile(name + ".mustache");
    StringWriter out = new StringWriter(8192);
    m.execute(out, scope);
    return out.toString();
  }
}
