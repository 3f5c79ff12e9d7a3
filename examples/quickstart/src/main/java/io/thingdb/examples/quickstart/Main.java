package io.thingdb.examples.quickstart;

/** Placeholder main; replaced once the cache API exists. */
public final class Main {
  private Main() {}

  /** Entry point. */
  public static void main(String[] args) {
    System.out.println("ThingDB quickstart");
  }
}
