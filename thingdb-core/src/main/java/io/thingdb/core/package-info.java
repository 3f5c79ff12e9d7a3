/**
 * ThingDB core (work in progress: see the project's open issues).
 */
package io.thingdb.core;
