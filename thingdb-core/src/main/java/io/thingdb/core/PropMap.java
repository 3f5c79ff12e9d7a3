package io.thingdb.core;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * The props of a thing or relation decoded from the cache: names and values in two arrays, in
 * stored order. An entity has a handful of props, so a scan (names are usually the declared {@link
 * Prop#name()} instances, so identity matches first) beats hashing, and two arrays replace a
 * LinkedHashMap's table and one node per entry: the read path builds one of these per entity.
 * Filled once by the decoder ({@link EntityCodec#readProps}), then never changed; {@link Thing} and
 * {@link Relation} hand it out read-only. Not thread-safe while being filled; safely published with
 * its entity afterwards.
 */
final class PropMap extends AbstractMap<String, Object> {
  private final String[] names;
  private final Object[] values;
  private int size;

  PropMap(int capacity) {
    this.names = new String[capacity];
    this.values = new Object[capacity];
  }

  /**
   * Adds a prop, or returns false if this very name instance is already here. The decoder passes
   * the declared {@link Prop#name()} instances, so an entry naming a prop twice is caught by
   * identity alone.
   */
  boolean add(String name, Object value) {
    for (int i = 0; i < size; i++) {
      if (names[i] == name) {
        return false;
      }
    }
    names[size] = name;
    values[size] = value;
    size++;
    return true;
  }

  @Override
  public int size() {
    return size;
  }

  @Override
  public Object get(Object key) {
    for (int i = 0; i < size; i++) {
      if (names[i] == key) {
        return values[i];
      }
    }
    for (int i = 0; i < size; i++) {
      if (names[i].equals(key)) {
        return values[i];
      }
    }
    return null;
  }

  @Override
  public boolean containsKey(Object key) {
    return get(key) != null; // values are never null
  }

  @Override
  public Set<Map.Entry<String, Object>> entrySet() {
    return new AbstractSet<>() {
      @Override
      public int size() {
        return size;
      }

      @Override
      public Iterator<Map.Entry<String, Object>> iterator() {
        return new Iterator<>() {
          private int next;

          @Override
          public boolean hasNext() {
            return next < size;
          }

          @Override
          public Map.Entry<String, Object> next() {
            if (next >= size) {
              throw new NoSuchElementException();
            }
            int i = next++;
            return new AbstractMap.SimpleImmutableEntry<>(names[i], values[i]);
          }
        };
      }
    };
  }
}
