package io.thingdb.cache;

import io.thingdb.cache.internal.Frames;
import io.thingdb.cache.internal.KetamaRing;
import io.thingdb.cache.internal.KeyCodec;
import java.util.List;
import java.util.Objects;

/**
 * How {@link MemcachedCache} names, places and frames its items, computed without connecting to
 * anything: for programs that share a ThingDB memcached cluster through another client (a raw Java
 * client, or pylibmc and php-memcached with libmemcached's {@code ketama_weighted} distribution),
 * and for tools that show where a key lives. Built with the namespace and server list of a {@code
 * MemcachedCache}, it agrees with that cache on every key:
 *
 * <ul>
 *   <li>{@link #wireKey} is the memcached key the cache sends for an application key: {@code
 *       namespace:1:key}, or {@code namespace:1:#} followed by the unpadded base64url SHA-256 of
 *       the key's UTF-8 bytes when memcached cannot carry the key as it is (see {@link Cache}).
 *   <li>{@link #serverFor} is the server that holds the key: the one libmemcached's {@code
 *       ketama_weighted} picks for the wire key, with each server hashed as the string it was
 *       configured as (no DNS lookup).
 *   <li>{@link #frame} is what the cache stores for a value given to {@link Cache#set}: the format
 *       byte {@code 0x01}, then the value, with memcached flags 0. An item whose first byte is not
 *       a known format is a miss for the cache, never misread. Counters ({@link Cache#incr}) are
 *       memcached's bare decimal digits.
 * </ul>
 *
 * <p>A {@link VersionedCache} entry is a framed value whose bytes start with that class's own
 * header; that header is not part of this contract.
 *
 * <p>Immutable and thread-safe.
 */
public final class WireFormat {
  private final KeyCodec keys;
  private final KetamaRing ring;

  private WireFormat(KeyCodec keys, KetamaRing ring) {
    this.keys = keys;
    this.ring = ring;
  }

  /**
   * The format of a {@link MemcachedCache} built with {@code namespace} and {@code servers}.
   *
   * @param namespace the cache's namespace ({@code thingdb} unless the builder set another)
   * @param servers the cache's servers, {@code host:port}, in the order it was given them
   * @throws NullPointerException if {@code namespace}, {@code servers} or a server is null
   * @throws IllegalArgumentException as {@link MemcachedCache.Builder#namespace} and {@link
   *     MemcachedCache.Builder#servers(List)} would, naming the namespace or server
   */
  public static WireFormat of(String namespace, List<String> servers) {
    KeyCodec keys = KeyCodec.of(namespace, KeyCodec.CURRENT_VERSION);
    return new WireFormat(keys, KetamaRing.of(servers));
  }

  /** The namespace that starts every wire key. */
  public String namespace() {
    return keys.namespace();
  }

  /** The servers, as configured, in order. */
  public List<String> servers() {
    return ring.servers();
  }

  /**
   * The memcached key under which the cache stores {@code key}: printable ASCII, at most 250
   * characters, the same in every process for the same namespace.
   *
   * @throws NullPointerException if {@code key} is null
   */
  public String wireKey(String key) {
    return keys.encode(key);
  }

  /**
   * The server (as configured) that holds {@code key}; whether it is up plays no part.
   *
   * @throws NullPointerException if {@code key} is null
   */
  public String serverFor(String key) {
    return ring.serverFor(keys.encode(key));
  }

  /**
   * The server (as configured) that holds the item named {@code wireKey}, for callers that already
   * have wire keys ({@link #wireKey}, or keys listed by the server).
   *
   * @throws NullPointerException if {@code wireKey} is null
   */
  public String serverForWireKey(String wireKey) {
    return ring.serverFor(wireKey);
  }

  /**
   * The bytes the cache stores for {@code value} (the format byte, then a copy of the value): what
   * another client writes so that {@link Cache#get} returns {@code value}.
   *
   * @return a new array, one byte longer than {@code value}
   * @throws NullPointerException if {@code value} is null
   */
  public static byte[] frame(byte[] value) {
    return Frames.wrap(Objects.requireNonNull(value, "value must not be null"));
  }

  @Override
  public String toString() {
    return "WireFormat{namespace=" + keys.namespace() + ", servers=" + ring.servers() + "}";
  }
}
