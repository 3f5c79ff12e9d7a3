package io.thingdb.cache.internal;

import net.rubyeye.xmemcached.transcoders.CachedData;
import net.rubyeye.xmemcached.transcoders.CompressionMode;
import net.rubyeye.xmemcached.transcoders.Transcoder;

/**
 * Passes byte arrays through untouched with flags 0. xmemcached's default transcoder would
 * serialize, set type flags and gzip values over 16 KiB, which changes the stored size (our item
 * limit check must see the real bytes) and costs CPU on every call. Immutable, thread-safe.
 *
 * <p>Each instance carries the client's item size limit: xmemcached's own {@code CachedData}
 * refuses values over 1 MiB unless told a larger limit, and a client configured for larger items
 * would otherwise never store them.
 */
public final class BytesTranscoder implements Transcoder<byte[]> {
  private final int maxSize;

  /**
   * @param maxSize the largest value this transcoder passes to xmemcached, at least the client's
   *     item size limit (values are checked against that limit before they get here)
   */
  public BytesTranscoder(int maxSize) {
    if (maxSize < 1) {
      throw new IllegalArgumentException("maxSize must be positive: " + maxSize);
    }
    this.maxSize = maxSize;
  }

  @Override
  public CachedData encode(byte[] value) {
    return new CachedData(0, value, maxSize, -1);
  }

  @Override
  public byte[] decode(CachedData data) {
    return data.getData();
  }

  @Override
  public void setPrimitiveAsString(boolean primitiveAsString) {
    throw new UnsupportedOperationException("BytesTranscoder has no options");
  }

  @Override
  public void setPackZeros(boolean packZeros) {
    throw new UnsupportedOperationException("BytesTranscoder has no options");
  }

  @Override
  public void setCompressionThreshold(int threshold) {
    throw new UnsupportedOperationException("BytesTranscoder never compresses");
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
    throw new UnsupportedOperationException("BytesTranscoder never compresses");
  }
}
