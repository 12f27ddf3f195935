# Samtale: every sentence a citizen sees, in English. Same keys as da.ftl; the same
# sentence-length check applies (at most 12 words a sentence).

## Help line.
help-title = Need help?
help-call = Call { $phone }
help-hours = { $hours }

## First run: the code.
code-headline = Type your code
code-body = Your contact person gave you the code.
code-wrong = The code is not right. Check the numbers.
code-action = Start the call
code-keypad-delete = Delete a number
code-link-body = The code is ready. Press the big button.

## Home.
home-headline = Hello
home-body = Press the big button to call.
home-action = Call { $municipality }

## The call.
joining-headline = Calling
joining-body = Please wait. It only takes a moment.
waiting-headline = You are ready
waiting-body = Your contact person is coming soon. You do not need to do anything.
in-call-headline = The call has started
in-call-body = You can talk now.
reconnecting-headline = Connecting again
reconnecting-body = You do not need to do anything.
leave-action = Hang up
mute-on = Turn microphone off
mute-off = Turn microphone on
camera-on = Turn camera off
camera-off = Turn camera on

## The end.
ended-headline = The call has ended
ended-you-left-body = You hung up.
ended-meeting-ended-body = The meeting is closed.
ended-expired-body = The time for the meeting is over.
again-action = Call again
done-action = Back

## When the call cannot be made.
failed-code-headline = The code is not right
failed-code-body = Check the code. Then try again.
fix-code-action = Fix the code
failed-unavailable-headline = The code no longer works
failed-unavailable-body = Call { $municipality }. They will give you a new code.
failed-full-headline = The meeting is full
failed-full-body = Call { $municipality } for help.
failed-network-headline = No connection
failed-network-body = Check that you are on the internet. Then try again.
failed-server-headline = Something went wrong
failed-server-body = It is not your fault. Call { $municipality }.
failed-busy-headline = Please wait
failed-busy-body = You have tried many times. Wait { $seconds } seconds.
retry-action = Try again
call-help-action = Call { $municipality }

## Before the first call: the phone asks for the microphone and the camera.
permissions-headline = Sound and picture
permissions-body = The app needs your microphone and camera. Then you can talk together.
permissions-action = Continue
microphone-off-headline = The microphone is off
microphone-off-body = You need to let the app use the microphone.
open-settings-action = Open settings

## Back during a call.
confirm-leave-headline = Do you want to hang up?
confirm-leave-body = The call ends if you hang up.
confirm-leave-action = Yes, hang up
stay-action = No, stay in the call

## Outside the screens: the notification during a call, and what a screen reader says about
## the pictures.
notification-channel = Calls
notification-title = You are in a call
notification-body = Tap here to see the call.
remote-video-label = Video of your contact person
self-view-label = Your own picture

## Said during a call when the app notices a device that gives nothing.
notice-microphone-silent = Your microphone gives no sound. Check that it is not turned off.
notice-camera-dark = Your camera shows no picture. Check that it is not turned off.

## Said while waiting for the call when the silent check finds that no call relay can be
## reached from this network (UDP and TCP blocked).
notice-network-blocked = Your internet may stop the call. Try another Wi-Fi, or call { $phone }.

## Said on the home screen when the app cannot reach the municipality's server.
notice-server-unreachable = The app cannot reach the municipality right now. Check that you have internet.

## Said during a call when the others' statuses show that something does not get through,
## or that the other side muted (not a fault).
notice-peer-cannot-hear = Your contact person cannot hear you. They are told too. If it goes on, hang up and call again.
notice-peer-not-heard = No sound is coming from your contact person. They are told too.
notice-peer-cannot-see = Your contact person cannot see you. The sound still works.
notice-peer-muted = Your contact person has turned their sound off. You do not need to do anything.
notice-peer-camera-off = Your contact person has turned their camera off. You do not need to do anything.

## What the phone's own dialog says when it asks for the microphone and the camera (iOS: the
## app's Info.plist, written by samtale-brand).
microphone-usage = The app needs the microphone. Then you can talk together.
camera-usage = The app needs the camera. Then the other person can see you.

## Home, when the app knows whether the contact person is in the standing room.
contact-person = Your contact person
home-present-headline = { $name } is waiting
home-present-body = Press the big button to talk.
home-present-action = Go in now
home-alone-body = { $name } is not here yet. You can go in and wait.
home-alone-action = Go in and wait
