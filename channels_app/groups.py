"""Channel-layer group names. The server alone decides who joins which."""


def inbox_group(inbox_id, language):
    return f"inbox-{inbox_id}.{language}"


def conversation_group(conversation_id, language):
    return f"conversation-{conversation_id}.{language}"


def user_group(user_id):
    return f"user-{user_id}"


def visitor_group(identity_id):
    return f"visitor-{identity_id}"
