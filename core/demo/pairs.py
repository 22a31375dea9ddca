"""Hard pairs of the demo dataset: a scam and a genuine conversation that differ in one turn.

Someone asks the listener for money (a hospital deposit, school fees, a driving test...). The
listener asks where to send it, naming two ways; the requester's answer rules one out and picks
the other, and the pick is the whole difference:
- staff of the institution who pick their own personal account over the institution's account
  are impersonators (official fees never go to a person); picking the institution's account is
  a genuine notice;
- a relative who picks an account they "will send" over their own is the classic impersonation
  scam (money to a third party); picking their own account is ordinary family business.
Both ways are named twice in both rows of a pair (in the question and in the answer) and the
answer's wording is the same, so every word and character n-gram occurs as often in the scam as
in its twin: a bag of n-grams scores chance on these rows. What separates them is which way
comes after "别转到" (ruled out) and which after "转到 … 就行" (picked): the structure of one
sentence, which a model that reads the dialogue in order can learn.
"""

from __future__ import annotations

from core.demo.templates import Ending, Script, beat

S, V = "S", "V"

IMPERSONATED_STAFF = "冒充工作人员收费"
IMPERSONATED_ACQUAINTANCE = "冒充熟人/领导借钱"

# (institution, its fees, departments that collect them, people a relative says are there)
INSTITUTIONS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ("医院", ("住院押金", "手术押金", "检查费"), ("住院部收费处", "财务科"), ("爸", "妈", "奶奶", "孩子")),
    ("学校", ("下学期的学费", "资料费", "研学活动费"), ("财务室", "教务处"), ("孩子", "侄子", "外甥")),
    ("驾校", ("考试费", "报名费", "补考费"), ("报名处", "财务"), ("我", "表弟", "孩子")),
    ("物业", ("物业费", "停车费", "维修基金"), ("服务中心", "收费处"), ("爸", "妈", "我")),
    ("幼儿园", ("餐费和保育费", "下学期的保育费", "兴趣班的费用"), ("财务室", "园务办公室"), ("孩子", "外孙", "孙子")),
    ("培训中心", ("课时费", "考证的培训费", "报名费"), ("前台", "财务部"), ("我", "孩子", "表妹")),
    ("酒店", ("婚宴定金", "订桌的定金", "会场定金"), ("宴会部", "前台"), ("我", "姐", "表哥")),
)

STAFF_OPENINGS = (
    "您好，我是{org}{dept}的，{fee}一共{amount}，麻烦{day}之前交一下。",
    "您好，这里是{org}{dept}，{fee}{amount}还没交，{day}截止，提醒您一下。",
    "打扰了，我是{org}{dept}的，跟您确认一下{fee}，一共{amount}。",
)
RELATIVE_OPENINGS = (
    "{rel}，是我，{who}在{org}这边，{fee}要交{amount}，我手头不够，你先帮我垫一下。",
    "{rel}，我现在在{org}，{who}的{fee}一共{amount}，{day}之前得交，你能先帮我出一下吗？",
    "{rel}，跟你说个事，{org}的{fee}要{amount}，我这个月钱不够，你帮我交上行吗？",
)
DETAILS = (
    "交完把截图发我，我这边登记一下。", "收据回头给你，你放心。", "过了{day}就得排到后面了，你抓紧点。",
)
# The two ways to pay of each family: (the way that makes it a scam, the genuine way).
STAFF_WAYS = ("我个人的{pay}", "{org}的对公账户")
RELATIVE_WAYS = ("我发你的那个卡号", "我本人的卡")
QUESTIONS = (
    "好的，那钱是转到{first}上，还是转到{second}上？",
    "行，我转到哪儿？{first}，还是{second}？",
    "要这么多啊？是转到{first}上，还是{second}上？",
)
# The requester's answer: the way after 别/不用 is ruled out, the other is picked. Both ways sit
# between the same characters ("转到" ... "上，"), so no character trigram says which is which.
ANSWERS = (
    "别转到{ruled_out}上，转到{picked}上，就这样。",
    "不用转到{ruled_out}上，直接转到{picked}上，谢谢。",
)
REACTIONS = Ending("any", (
    beat(V, "好，我晚上转。", "行，我先跟家里说一声再转。", "我先打个电话确认一下。", "好的，转完跟你说。", "嗯，我看看。",
         "这么急啊，我凑一凑。", opt=True),
    beat(S, "好，转完跟我说一声。", "麻烦了，有事打我电话。", "行，那我等你消息。", opt=True),
))


def _you(way: str) -> str:
    """A way to pay as the listener names it ("我发你的卡号" said back is "你发我的卡号")."""
    return way.translate(str.maketrans({"我": "你", "你": "我"}))


def _questions(ways: tuple[str, str]) -> tuple[str, ...]:
    named = [_you(way) for way in ways]
    return tuple(question.format(first=first, second=second)
                 for question in QUESTIONS for first, second in (named, named[::-1]))


def _answers(picked: str, ruled_out: str) -> tuple[str, ...]:
    return tuple(answer.format(picked=picked, ruled_out=ruled_out) for answer in ANSWERS)


def _script(institution, fees, departments, people, staff: bool) -> Script:
    slots = {"org": (institution,), "fee": fees, "dept": departments, "who": people,
             "rel": ("妈", "爸", "姐", "哥", "舅舅", "小姨", "老同学", "表哥", "二姑")}
    scam_way, genuine_way = STAFF_WAYS if staff else RELATIVE_WAYS
    answer = beat(S, *_answers(scam_way, genuine_way), twin=_answers(genuine_way, scam_way),
                  flags="要求把钱转到其个人账户，而不是单位的对公账户" if staff
                  else "不让把钱转到本人的卡上，而是要转到一个另发的卡号")
    if staff:
        opening = beat(S, *STAFF_OPENINGS, flags="自称{org}的工作人员来收{fee}")
        notes = ("正规机构收费只走单位的对公账户，要求转给个人的就是冒充工作人员收费",
                 "真正的工作人员不会让人把费用转到自己的私人账户")
        kind, roles, twin_kind = IMPERSONATED_STAFF, {S: "agent", V: "person"}, "日常-缴费通知"
    else:
        opening = beat(S, *RELATIVE_OPENINGS, flags="以亲友的身份开口要钱")
        notes = ("亲友借钱却要求转到第三方账户，是冒充熟人诈骗的典型手法",
                 "钱不进对方本人的账户而进一个无法核实的账户，很可能是冒充亲友的骗局")
        kind, roles, twin_kind = IMPERSONATED_ACQUAINTANCE, {S: "person", V: "person"}, "日常-亲友借钱"
    beats = (opening, beat(S, *DETAILS, opt=True), beat(V, *_questions((scam_way, genuine_way))), answer)
    return Script(kind, roles, beats, (REACTIONS,), slots, notes=notes, twin_kind=twin_kind)


PAIR_SCRIPTS: tuple[Script, ...] = tuple(
    _script(*institution, staff=staff) for institution in INSTITUTIONS for staff in (True, False)
)
