// Topics (issue 15): the form's choice of raw topic, and the tag that says
// which topic an event came from.

import { $ } from "./dom.js";

// The raw topics the workers consume, from `hello`: the "topics" choice of
// the form ("all", or one topic). The choice made is kept across reconnects.
export function offerTopics(topics) {
  const select = $("topics");
  if (!select || !Array.isArray(topics)) return;
  const chosen = select.value;
  select.replaceChildren(new Option("all", ""));
  for (const topic of topics) select.append(new Option(topic, topic));
  select.value = topics.includes(chosen) ? chosen : "";
}

// What the form asks for: `null` is every topic.
export function chosenTopics() {
  const value = $("topics")?.value;
  return value ? [value] : null;
}

// The event's source topic as a small tag before its latency; a class per
// topic (`topic-0`..`topic-5`, by name) gives each its color.
export function topicTag(line, frame) {
  if (typeof frame.topic !== "string") return;
  const tag = document.createElement("span");
  tag.className = `topic topic-${topicColor(frame.topic)}`;
  tag.textContent = frame.topic;
  tag.title = `from topic ${frame.topic}`;
  line.insertBefore(tag, line.querySelector(".lat"));
}

function topicColor(topic) {
  let hash = 0;
  for (const char of topic) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % 6;
}
