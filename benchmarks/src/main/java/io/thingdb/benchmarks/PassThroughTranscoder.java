package io.thingdb.benchmarks;

import net.rubyeye.xmemcached.transcoders.CachedData;
import net.rubyeye.xmemcached.transcoders.CompressionMode;
import net.rubyeye.xmemcached.transcoders.Transcoder;

/**
 * The raw baselines' xmemcached transcoder: byte arrays in and out untouched, flags 0, as
 * MemcachedCache sends them (see {@link io.thingdb.cache.WireFormat}). xmemcached's default would
 * serialize, set type flags and compress large values, so the raw client would neither do the same
 * work as ThingDB nor read the items ThingDB wrote. Part of the baseline's configuration, kept here
 * so that no xmemcached type enters ThingDB's public API. Stateless, thread-safe.
 */
final class PassThroughTranscoder implements Transcoder<byte[]> {
  static final PassThroughTranscoder INSTANCE = new PassThroughTranscoder();

  private PassThroughTranscoder() {}

  @Override
  public CachedData encode(byte[] value) {
    return new CachedData(0, value);
  }

  @Override
  public byte[] decode(CachedData data) {
    return data.getData();
  }

  @Override
  public void setPrimitiveAsString(boolean primitiveAsString) {
    throw new UnsupportedOperationException("PassThroughTranscoder has no options");
  }

  @Override
  public void setPackZeros(boolean packZeros) {
    throw new UnsupportedOperationException("PassThroughTranscoder has no options");
  }

  @Override
  public void setCompressionThreshold(int threshold) {
    throw new UnsupportedOperationException("PassThroughTranscoder never compresses");
  }

  @Override
  public boolean isPrimitiveAsString() {
    return false;
  }

  @Override
  public boolean isPackZeros() {
    return false;
  }

  @Override
  public void setCompressionMode(CompressionMode mode) {
    throw new UnsupportedOperationException("PassThroughTranscoder never compresses");
  }
}
